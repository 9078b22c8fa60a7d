import { defineConfig } from '@playwright/test';
import { SUPERADMIN_PASSWORD } from './tests/helpers';

// The app under test is the debug binary the Rust tests built, serving the
// bundle scripts/bundle.sh builds (scripts/test.sh). It is
// started here on its own port with a fresh SQLite file and the demo
// provider; a superadmin and a second provider are created first, for the
// provider picker.
const port = Number(process.env.E2E_PORT ?? 3017);
const baseURL = `http://127.0.0.1:${port}`;
// A second fake SGP with the demo's customers but the last five gone, for
// the removal test (removals.spec.ts).
export const smallerSgpPort = Number(process.env.E2E_FAKE_PORT ?? port + 1);

export default defineConfig({
  testDir: './tests',
  outputDir: './test-results',
  timeout: 60_000,
  expect: { timeout: 10_000 },
  fullyParallel: false,
  workers: 1,
  forbidOnly: !!process.env.CI,
  reporter: [['list']],
  use: {
    baseURL,
    locale: 'pt-BR',
    trace: 'retain-on-failure',
    launchOptions: {
      executablePath: process.env.CHROMIUM_PATH ?? '/usr/bin/chromium',
      // Without the networking flags Chromium keeps trying to reach the
      // internet, which this machine does not have.
      args: [
        '--no-sandbox',
        '--disable-gpu',
        '--disable-quic',
        '--disable-background-networking',
        '--disable-component-update',
        '--disable-sync',
        '--no-first-run',
      ],
    },
  },
  webServer: [{
    cwd: '..',
    command: `exec ./target/debug/fake-sgp --addr 127.0.0.1:${smallerSgpPort} --customers 395`,
    port: smallerSgpPort,
    reuseExistingServer: false,
    timeout: 30_000,
    stdout: 'ignore',
    stderr: 'ignore',
  }, {
    cwd: '..',
    command: [
      'rm -rf target/e2e && mkdir -p target/e2e',
      './target/debug/sgp-import create-user --superadmin --email raiz@e2e.local --name Raiz',
      './target/debug/sgp-import create-user --provider net-b --provider-name "Provedor B" --email admin@net-b.local --name "Admin B"',
      'exec ./target/debug/sgp-import serve',
    ].join(' && '),
    url: `${baseURL}/healthz`,
    reuseExistingServer: false,
    timeout: 60_000,
    stdout: 'ignore',
    stderr: 'pipe',
    env: {
      SERVER_ADDR: `127.0.0.1:${port}`,
      DATABASE_URL: 'sqlite://target/e2e/e2e.db',
      DEMO: 'true',
      // small and slow enough to watch: a few pages, each taking a while
      DEMO_CUSTOMERS: '400',
      DEMO_SGP_LATENCY_MS: '1500',
      EXECUTOR_POLL_INTERVAL_MS: '200',
      // the dashboard test queues eleven imports at once, for two pages
      IMPORT_MAX_ACTIVE_PER_TENANT: '20',
      LOG_FILTER: 'warn',
      SGP_IMPORT_PASSWORD: SUPERADMIN_PASSWORD,
      LEPTOS_SITE_ROOT: 'target/site',
    },
  }],
});
