// `sqlx::migrate!` embeds the migration folders at compile time, and Cargo
// does not know they are inputs: without this, a new migration file is
// missing from the build until some source file changes.
fn main() {
    println!("cargo:rerun-if-changed=../../migrations");
}
