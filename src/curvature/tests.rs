//! Correctness against exact Hessians. Reference values come from the full Hessian built
//! column by column from exact HVPs (H e_i) and `linalg_eigvalsh`, in float64, on a small MLP
//! with D = 183 parameters, and from a quadratic whose Hessian is known in closed form.
use super::*;
use crate::config::HvpMethod;
use crate::model::MlpShape;
use tch::{Device, Kind, Tensor};

const SMALL: MlpShape = MlpShape {
    input: 6,
    width: 6,
    classes: 3,
    hidden: 3,
};

/// Random inputs and labels from the project RNG.
fn toy_data(n: usize, seed: u64, kind: Kind) -> Subset {
    let mut rng = Rng::new(seed);
    let x: Vec<f64> = (0..n * SMALL.input).map(|_| rng.normal()).collect();
    let y: Vec<i64> = (0..n)
        .map(|_| rng.below(SMALL.classes as u64) as i64)
        .collect();
    Subset {
        x: Tensor::from_slice(&x)
            .view([n as i64, SMALL.input as i64])
            .to_kind(kind),
        y: Tensor::from_slice(&y),
    }
}

/// A small model trained towards a minimum of the toy loss (so H is nearly PSD and its dominant
/// eigenvalue is its largest), with non-trivial BatchNorm running statistics.
fn trained_small_model(kind: Kind) -> (Mlp, Subset) {
    let data = toy_data(256, 11, kind);
    let model = Mlp::new(SMALL, 5, kind, Device::Cpu);
    let cfg = crate::config::RunConfig::adhoc().sgd;
    let mut sgd = crate::train::Sgd::new(&cfg);
    for _ in 0..200 {
        let _ = sgd.step(&model, &data.x, &data.y, 0.05).unwrap();
    }
    (model, data)
}

fn full_hessian(h: &Hvp) -> Tensor {
    let d = h.dim();
    let cols: Vec<Tensor> = (0..d)
        .map(|i| {
            let e = Tensor::zeros([d], (Kind::Double, Device::Cpu));
            let _ = e.narrow(0, i, 1).fill_(1.0);
            h.apply(&e).unwrap()
        })
        .collect();
    Tensor::stack(&cols, 1)
}

fn rel(a: f64, b: f64) -> f64 {
    (a - b).abs() / b.abs().max(1e-300)
}

#[test]
fn small_mlp_estimates_match_the_exact_hessian() {
    let (model, data) = trained_small_model(Kind::Double);
    let obj = model_objective(&model, &data, Mode::Eval);
    assert_eq!(obj.dim(), 183);
    let h = Hvp::new(&obj, HvpMethod::Exact, 0.0).unwrap();
    let hm = full_hessian(&h);
    let asym = (&hm - hm.tr()).abs().max().double_value(&[]);
    assert!(asym < 1e-10, "Hessian asymmetry {asym}");
    let eig = hm.linalg_eigvalsh("L");
    let eig: Vec<f64> = Vec::<f64>::try_from(&eig).unwrap();
    let lambda_max = eig.iter().copied().fold(f64::MIN, f64::max);
    let dominant = eig
        .iter()
        .copied()
        .fold(0.0f64, |a, b| if b.abs() > a.abs() { b } else { a });
    assert_eq!(
        dominant, lambda_max,
        "the trained model sits near a minimum: λ_max dominates"
    );
    let exact_trace: f64 = eig.iter().sum();
    let exact_frob = eig.iter().map(|e| e * e).sum::<f64>().sqrt();

    // Power iteration at a tight tolerance agrees to 1e-4 relative.
    let p = power_iteration(&h, &mut Rng::new(1), 1e-10, 5000).unwrap();
    assert!(p.converged);
    assert!(
        rel(p.lambda_max, lambda_max) < 1e-4,
        "power {} vs eigvalsh {lambda_max}",
        p.lambda_max
    );

    // Lanczos reaches the same eigenvalue, and at PyHessian's tolerance needs fewer HVPs than
    // power iteration.
    let l = lanczos(&h, &mut Rng::new(1), 1e-10, 150).unwrap();
    assert!(l.converged);
    assert!(
        rel(l.lambda_max, lambda_max) < 1e-8,
        "lanczos {} vs eigvalsh {lambda_max}",
        l.lambda_max
    );
    let (pl, ll) = (
        power_iteration(&h, &mut Rng::new(1), 1e-3, 500).unwrap(),
        lanczos(&h, &mut Rng::new(1), 1e-3, 500).unwrap(),
    );
    assert!(
        ll.iterations < pl.iterations,
        "lanczos {} vs power {} iterations",
        ll.iterations,
        pl.iterations
    );
    assert!(
        rel(ll.lambda_max, lambda_max) <= rel(pl.lambda_max, lambda_max),
        "lanczos is at least as accurate at equal tolerance"
    );

    // Probe estimators: unbiased, so with 2000 probes within 4 standard errors of the truth,
    // and that standard error is small (a few percent).
    let f = frobenius_norm(&h, &mut Rng::new(2), 2000).unwrap();
    assert!(
        (f.value - exact_frob).abs() < 4.0 * f.standard_error,
        "frob {} ± {} vs {exact_frob}",
        f.value,
        f.standard_error
    );
    assert!(f.standard_error / exact_frob < 0.05);
    let t = hutchinson_trace(&h, &mut Rng::new(3), 2000).unwrap();
    assert!(
        (t.value - exact_trace).abs() < 4.0 * t.standard_error,
        "trace {} ± {} vs {exact_trace}",
        t.value,
        t.standard_error
    );
    assert!(
        rel(
            hm.diagonal(0, 0, 1).sum(Kind::Double).double_value(&[]),
            exact_trace
        ) < 1e-10
    );
}

#[test]
fn finite_differences_agree_with_exact_hvp() {
    // A ReLU network's gradient jumps where a unit's pre-activation crosses zero, so central
    // differences see (jump)/2ε wherever ±εv crosses a kink. On this trained toy model the
    // nearest kink along v lies ~5e-5 from θ (a sweep gave relative errors of 40–80 at
    // ε_rel = 1e-4…1e-5 and 7e-11 at 1e-6), so the step is chosen below it, in float64, where
    // rounding allows it: agreement to 1e-6 relative.
    let (model, data) = trained_small_model(Kind::Double);
    let obj = model_objective(&model, &data, Mode::Eval);
    let exact = Hvp::new(&obj, HvpMethod::Exact, 0.0).unwrap();
    let fd = Hvp::new(&obj, HvpMethod::FiniteDifference, 1e-7).unwrap();
    let mut rng = Rng::new(4);
    for _ in 0..3 {
        let v: Vec<f64> = (0..obj.dim()).map(|_| rng.normal()).collect();
        let v = Tensor::from_slice(&v);
        let (a, b) = (exact.apply(&v).unwrap(), fd.apply(&v).unwrap());
        let err = norm(&(&a - &b)) / norm(&a);
        assert!(err < 1e-6, "float64 FD relative error {err}");
    }
}

#[test]
fn hvp_is_symmetric() {
    let (model, data) = trained_small_model(Kind::Float);
    let obj = model_objective(&model, &data, Mode::Eval);
    let h = Hvp::new(&obj, HvpMethod::Exact, 0.0).unwrap();
    let mut rng = Rng::new(6);
    let mut r = || {
        Tensor::from_slice(
            &(0..obj.dim())
                .map(|_| rng.normal() as f32)
                .collect::<Vec<_>>(),
        )
    };
    let (v, w) = (r(), r());
    let (whv, vhw) = (
        dot(&w, &h.apply(&v).unwrap()),
        dot(&v, &h.apply(&w).unwrap()),
    );
    assert!(rel(whv, vhw) < 1e-4, "w·Hv = {whv}, v·Hw = {vhw}");
}

#[test]
fn quadratic_with_known_hessian() {
    // L(θ) = ½ θᵀAθ with A = Q diag(1..=10) Qᵀ, Q orthogonal: λ_max = 10, Tr = 55, ‖A‖_F = √385.
    let n = 10;
    let mut rng = Rng::new(8);
    let g: Vec<f64> = (0..n * n).map(|_| rng.normal()).collect();
    let (q, _) = Tensor::linalg_qr(&Tensor::from_slice(&g).view([n, n]), "reduced");
    let lam = Tensor::arange_start(1, n + 1, (Kind::Double, Device::Cpu));
    let a = q.matmul(&lam.diag_embed(0, -2, -1)).matmul(&q.tr());
    let theta = Tensor::from_slice(&(0..n).map(|_| rng.normal()).collect::<Vec<_>>())
        .set_requires_grad(true);
    let obj = Objective {
        params: vec![theta],
        loss: Box::new(|p| p[0].dot(&a.mv(p[0])) * 0.5),
    };
    for method in [HvpMethod::Exact, HvpMethod::FiniteDifference] {
        let h = Hvp::new(&obj, method, 1e-4).unwrap();
        let v = Tensor::from_slice(&(0..n).map(|_| rng.normal()).collect::<Vec<_>>());
        let err = norm(&(h.apply(&v).unwrap() - a.mv(&v))) / norm(&a.mv(&v));
        assert!(err < 1e-8, "{method:?}: Hv vs Av relative error {err}");
    }
    let h = Hvp::new(&obj, HvpMethod::Exact, 0.0).unwrap();
    let p = power_iteration(&h, &mut Rng::new(9), 1e-12, 2000).unwrap();
    assert!(rel(p.lambda_max, 10.0) < 1e-6, "λ_max {}", p.lambda_max);
    let t = hutchinson_trace(&h, &mut Rng::new(10), 4000).unwrap();
    assert!(
        (t.value - 55.0).abs() < 4.0 * t.standard_error,
        "trace {} ± {}",
        t.value,
        t.standard_error
    );
    let f = frobenius_norm(&h, &mut Rng::new(11), 4000).unwrap();
    assert!(
        (f.value - 385f64.sqrt()).abs() < 4.0 * f.standard_error,
        "frob {} ± {}",
        f.value,
        f.standard_error
    );
}
