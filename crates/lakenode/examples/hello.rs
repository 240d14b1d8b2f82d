//! Baseline for the flash-size report: a program that does nothing but print.
fn main() {
    println!("hello");
}
