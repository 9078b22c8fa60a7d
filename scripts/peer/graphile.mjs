// One run of graphile-worker, the peer the job engine is measured against
// (scripts/bench.sh): PEER_JOBS no-op jobs (default 100,000) queued in bulk
// into DATABASE_URL (a fresh database), then run until none is left.
// Prints one line: "graphile-worker: <jobs> jobs in <s> s = <rate> jobs/s".
//
// The settings are the peer's documented fast path: a local queue of 500
// (one fetch locks 500 jobs), batched completion, 24 concurrent jobs.
// Timing starts when the worker starts and stops when the jobs table is
// empty (graphile-worker deletes a job when its completion commits), polled
// every 50 ms, as the engine's run is polled for its completed count.
import { Logger, run, runMigrations } from "graphile-worker";
import pg from "pg";

const connectionString = process.env.DATABASE_URL;
if (!connectionString) {
  console.error("DATABASE_URL is not set");
  process.exit(2);
}
const jobs = Number(process.env.PEER_JOBS ?? 100000);
const concurrency = Number(process.env.PEER_CONCURRENCY ?? 24);
const localQueue = Number(process.env.PEER_LOCAL_QUEUE ?? 500);
const batchDelay = Number(process.env.PEER_COMPLETE_BATCH_DELAY ?? 0);

// graphile-worker's own log is per job start; the figure is all we print
const quiet = () => () => {};
const logger = new Logger(quiet);

await runMigrations({ connectionString, logger });
const client = new pg.Client({ connectionString });
await client.connect();
// queued in chunks through the peer's own bulk function
for (let queued = 0; queued < jobs; queued += 10000) {
  const n = Math.min(10000, jobs - queued);
  await client.query(
    `SELECT graphile_worker.add_jobs(array_agg(
       ('noop', '{}'::json, NULL, NULL, NULL, NULL, NULL, NULL)::graphile_worker.job_spec))
     FROM generate_series(1, $1)`,
    [n],
  );
}
await client.query("ANALYZE");

const left = async () =>
  Number(
    (await client.query("SELECT count(*) AS n FROM graphile_worker._private_jobs"))
      .rows[0].n,
  );

const started = performance.now();
const runner = await run({
  connectionString,
  concurrency,
  noHandleSignals: true,
  pollInterval: 200,
  logger,
  taskList: { noop: async () => {} },
  preset: {
    worker: {
      localQueue: { size: localQueue },
      completeJobBatchDelay: batchDelay,
    },
  },
});
while ((await left()) > 0) {
  await new Promise((resolve) => setTimeout(resolve, 50));
}
const secs = (performance.now() - started) / 1000;
await runner.stop();
await client.end();
console.log(
  `graphile-worker: ${jobs} jobs in ${secs.toFixed(2)} s = ${(jobs / secs).toFixed(0)} jobs/s`,
);
