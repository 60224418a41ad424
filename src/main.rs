fn main() -> std::process::ExitCode {
    bqflow::main()
}
