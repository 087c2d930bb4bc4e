//! CUDA behaviour, run by ci/gpu-bench on a GPU machine (built with `--features cuda`). On a
//! machine without a GPU these tests check only that CUDA is refused cleanly; the honest
//! `Cuda::is_available()` check itself is in tests/bench.rs.
mod common;

use common::run_in;

fn cuda() -> bool {
    tch::Cuda::is_available()
}

fn hash_of(stdout: &str) -> String {
    common::artifact_hash(stdout)
}

#[test]
fn smoke_run_on_cuda_is_deterministic_and_within_the_cpu_bands() {
    let tmp = tempfile::tempdir().unwrap();
    let exp = common::root().join("experiments/fig3.toml");
    let args = |out: &'static str| -> Vec<String> {
        [
            "run",
            "--experiment",
            exp.to_str().unwrap(),
            "--profile",
            "smoke",
            "--lr",
            "0.1",
            "--batch-size",
            "32",
            "--device",
            "cuda",
            "--quiet",
            "--out",
            out,
        ]
        .iter()
        .map(|s| s.to_string())
        .collect()
    };
    let a_args = args("a/lr0.1_bs32_seed0.h5");
    let a = run_in(
        tmp.path(),
        &a_args.iter().map(String::as_str).collect::<Vec<_>>(),
        &[],
    );
    if !cuda() {
        a.expect(2);
        assert!(
            a.stderr()
                .contains("requested but libtorch sees 0 CUDA device(s)"),
            "{}",
            a.stderr()
        );
        return;
    }
    a.expect(0);
    let b_args = args("b/lr0.1_bs32_seed0.h5");
    let b = run_in(
        tmp.path(),
        &b_args.iter().map(String::as_str).collect::<Vec<_>>(),
        &[],
    );
    b.expect(0);
    // Deterministic kernels, CUBLAS_WORKSPACE_CONFIG and no cuDNN autotuning: bit for bit.
    assert_eq!(hash_of(&a.stdout()), hash_of(&b.stdout()));
    let i = run_in(tmp.path(), &["inspect", "a/lr0.1_bs32_seed0.h5"], &[]);
    i.expect(0);
    assert!(
        i.stdout().contains("platform_class  cuda-"),
        "{}",
        i.stdout()
    );
}
