//! `synack-script FILE...`: runs packetdrill scripts against synack's engine (the same as
//! `synack script FILE...`) and ends with the line `N passed, N failed, N skipped`.

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let code = synack_script::cli_main(&args, &mut std::io::stdout());
    std::process::exit(code);
}
