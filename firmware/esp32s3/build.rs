//! Passes ESP-IDF's build environment (linker args, cfgs) to the Rust build.
fn main() {
    embuild::espidf::sysenv::output();
}
