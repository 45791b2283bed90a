//! The free-text readers' cost on one string, for callgrind: runs
//! `customs::extract::text::scan_with` on the string N times. BENCHMARKS.md takes the
//! difference between N = 1,000 and N = 3,000 over 2,000 as the instructions per string.
//!
//! `cargo build --release --example scan`, then
//! `valgrind --tool=callgrind target/release/examples/scan "ticket ref 4415-2290" 1000`.

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let (Some(text), Some(n)) = (
        args.get(1),
        args.get(2).and_then(|n| n.parse::<usize>().ok()),
    ) else {
        eprintln!("usage: scan TEXT N");
        std::process::exit(2);
    };
    let mut hits = 0;
    for _ in 0..n {
        hits += customs::extract::text::scan_with(std::hint::black_box(text), true).len();
    }
    println!("{hits} hits");
}
