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
        mlp: None,
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

/// The full Hessian of `obj`'s loss built column by column by differentiating each component of
/// the gradient again (independent of [`Hvp`]).
fn hessian_by_autograd(obj: &Objective) -> Tensor {
    let loss = (obj.loss)(&obj.params.iter().collect::<Vec<_>>());
    let g = flatten(&Tensor::run_backward(&[&loss], &obj.params, true, true));
    let rows: Vec<Tensor> = (0..obj.dim())
        .map(|i| {
            flatten(&Tensor::run_backward(
                &[&g.get(i)],
                &obj.params,
                true,
                false,
            ))
        })
        .collect();
    Tensor::stack(&rows, 0)
}

#[test]
fn batch_mode_hessian_matches_the_training_mode_hessian_and_leaves_out_flat_biases() {
    let (model, data) = trained_small_model(Kind::Double);
    let buffers: Vec<Tensor> = model.buffers.iter().map(|(_, t)| t.copy()).collect();
    let obj = model_objective(&model, &data, Mode::Batch);
    // 183 parameters minus the three pre-BatchNorm biases of width 6.
    assert_eq!(obj.dim(), 183 - 18);
    // The training-mode loss (batch statistics) written out directly, over all parameters.
    let full = Objective {
        params: model.param_tensors(),
        loss: Box::new(|p| {
            let h = model.forward_with(p, &data.x, Mode::Batch);
            cross_entropy(&h, &data.y)
        }),
        mlp: None,
    };
    let hf = hessian_by_autograd(&full);
    // The left-out biases: zero gradient and zero Hessian rows in this mode.
    let keep = included(&model, Mode::Batch);
    let names: Vec<&str> = (0..model.params.len())
        .filter(|i| !keep.contains(i))
        .map(|i| model.params[i].0.as_str())
        .collect();
    assert_eq!(names, ["l1.bias", "l2.bias", "l3.bias"]);
    let loss = (full.loss)(&full.params.iter().collect::<Vec<_>>());
    let grads = Tensor::run_backward(&[&loss], &full.params, false, false);
    for i in (0..model.params.len()).filter(|i| !keep.contains(i)) {
        let g = grads[i].abs().max().double_value(&[]);
        assert!(g < 1e-12, "{}: |grad| {g}", model.params[i].0);
    }
    // The Hessian restricted to the included parameters equals what Hvp gives, column by column.
    let offsets: Vec<i64> = model
        .params
        .iter()
        .scan(0, |o, (_, t)| {
            let start = *o;
            *o += t.numel() as i64;
            Some(start)
        })
        .collect();
    let idx: Vec<i64> = keep
        .iter()
        .flat_map(|&i| offsets[i]..offsets[i] + model.params[i].1.numel() as i64)
        .collect();
    let idx = Tensor::from_slice(&idx);
    let reference = hf.index_select(0, &idx).index_select(1, &idx);
    let h = Hvp::new(&obj, HvpMethod::Exact, 0.0).unwrap();
    let hm = full_hessian(&h);
    let err = (&hm - &reference).abs().max().double_value(&[]);
    let scale = reference.abs().max().double_value(&[]);
    assert!(
        err < 1e-9 * scale,
        "max |H_hvp − H_autograd| = {err} (scale {scale})"
    );
    let lambda = reference.linalg_eigvalsh("L").max().double_value(&[]);
    let l = lanczos(&h, &mut Rng::new(1), 1e-10, 150).unwrap();
    assert!(
        rel(l.lambda_max, lambda) < 1e-8,
        "{} vs {lambda}",
        l.lambda_max
    );
    // Batch mode never touches the running averages.
    for ((name, t), before) in model.buffers.iter().zip(&buffers) {
        assert!(t.equal(before), "{name} changed");
    }
}

#[test]
fn measure_records_both_modes_and_what_each_includes() {
    let (model, data) = trained_small_model(Kind::Double);
    let mut cfg = crate::config::RunConfig::adhoc().curvature;
    cfg.eval_samples = 128;
    cfg.bn_mode = crate::config::BnMode::Both;
    cfg.subset_check_samples = 256;
    let m = measure(&model, &data, &cfg, 0).unwrap();
    let modes: Vec<_> = m.modes.iter().map(|c| c.bn_mode).collect();
    assert_eq!(
        modes,
        [crate::config::BnMode::Eval, crate::config::BnMode::Batch]
    );
    let (e, b) = (&m.modes[0], &m.modes[1]);
    assert!(e.excluded.is_empty());
    assert_eq!(e.parameters.len(), model.params.len());
    assert_eq!(b.excluded, ["l1.bias", "l2.bias", "l3.bias"]);
    assert_eq!((e.num_params, b.num_params), (183, 165));
    assert!(e.lambda_max.lambda_max.is_finite() && b.lambda_max.lambda_max.is_finite());
    assert_ne!(e.lambda_max.lambda_max, b.lambda_max.lambda_max);
    let c = m.subset_check.unwrap();
    assert_eq!(c.eval_samples, 256);
    assert!(c.lambda_max.is_finite() && c.frobenius_norm.is_finite());
}

/// The per-sample gradients of the toy loss one by one (eval mode: each loss depends on its own
/// sample only), as the rows of an n×D matrix.
fn explicit_per_sample_gradients(model: &Mlp, data: &Subset, params: &[Tensor]) -> Tensor {
    let n = data.y.size()[0];
    let rows: Vec<Tensor> = (0..n)
        .map(|i| {
            let refs: Vec<&Tensor> = params.iter().collect();
            let x = data.x.narrow(0, i, 1);
            let logits = model.forward_with(&refs, &x, Mode::Eval);
            let loss = crate::model::cross_entropy(&logits, &data.y.narrow(0, i, 1));
            flatten(&Tensor::run_backward(&[&loss], params, false, false))
        })
        .collect();
    Tensor::stack(&rows, 0)
}

/// The noise estimator against C built from explicit per-sample gradients: each probe's
/// vᵀCv, ‖Cv‖² and (Cv)ᵀHv to 1e-9 relative, and Tr C from many probes within 4 se.
#[test]
fn gradient_noise_matches_explicit_per_sample_covariance() {
    let (model, data) = trained_small_model(Kind::Double);
    let data = Subset {
        x: data.x.narrow(0, 0, 64),
        y: data.y.narrow(0, 0, 64),
    };
    let obj = model_objective(&model, &data, Mode::Eval);
    let h = Hvp::new(&obj, HvpMethod::Exact, 0.0).unwrap();
    let g = explicit_per_sample_gradients(&model, &data, &obj.params);
    let mean = g.mean_dim(0, false, Kind::Double);
    let centred = &g - &mean;
    let c = centred.tr().matmul(&centred) / 64.0;
    let hm = full_hessian(&h);
    let exact_trace = c.trace().double_value(&[]);
    let per = PerSample::new(&model, &data, &obj.params).unwrap();
    let mut rng = Rng::new(3);
    let v = super::estimators::random_vector(&mut rng, obj.dim(), true, Kind::Double, Device::Cpu);
    let cv_exact = c.mv(&v);
    let cv = per.cv(&v).unwrap();
    let diff = (&cv - &cv_exact).abs().max().double_value(&[]);
    let scale = cv_exact.abs().max().double_value(&[]);
    assert!(diff <= 1e-9 * scale, "Cv differs by {diff} (scale {scale})");
    let tr_ch_exact = c.matmul(&hm).trace().double_value(&[]);
    let fro_exact = c.square().sum(Kind::Double).double_value(&[]).sqrt();
    let est = gradient_noise(&per, &h, &mut Rng::new(4), 400).unwrap();
    for (name, got, want) in [
        ("Tr C", &est.trace, exact_trace),
        ("Tr CH", &est.trace_ch, tr_ch_exact),
    ] {
        let z = (got.value - want) / got.standard_error;
        assert!(
            z.abs() < 4.0,
            "{name}: {} ± {} vs exact {want}",
            got.value,
            got.standard_error
        );
    }
    assert!(
        rel(est.frobenius.value, fro_exact) < 0.1,
        "‖C‖_F {} vs {fro_exact}",
        est.frobenius.value
    );
    let hf = hm.square().sum(Kind::Double).double_value(&[]).sqrt();
    let align_exact = tr_ch_exact / (fro_exact * hf);
    assert!(
        (est.alignment(hf) - align_exact).abs() < 0.1,
        "{} vs {align_exact}",
        est.alignment(hf)
    );
}

/// The R-operator and double backward agree on every product, in both BatchNorm readings:
/// in float64 to rounding on the small model (trained and at initialisation), and in float32
/// on a wider model to float32 rounding.
#[test]
fn r_operator_equals_double_backward() {
    let check = |model: &Mlp, data: &Subset, kind: Kind, tol: f64| {
        for mode in [Mode::Eval, Mode::Batch] {
            let obj = model_objective(model, data, mode);
            let rop = Hvp::new(&obj, HvpMethod::Exact, 0.0).unwrap();
            let db = Hvp::new(&obj, HvpMethod::DoubleBackward, 0.0).unwrap();
            assert!(matches!(rop, Hvp::ROperator { .. }));
            assert!(matches!(db, Hvp::DoubleBackward { .. }));

            let mut rng = Rng::new(21);
            for _ in 0..3 {
                let v =
                    super::estimators::random_vector(&mut rng, obj.dim(), false, kind, Device::Cpu);
                let (a, b) = (rop.apply(&v).unwrap(), db.apply(&v).unwrap());
                assert_eq!(a.size(), [obj.dim()]);
                let err = norm(&(&a - &b)) / norm(&b);
                assert!(err < tol, "{mode:?}: ‖Hv_R − Hv_db‖/‖Hv_db‖ = {err}");
            }
        }
    };
    let (trained, data) = trained_small_model(Kind::Double);
    check(&trained, &data, Kind::Double, 1e-12);
    let fresh = Mlp::new(SMALL, 9, Kind::Double, Device::Cpu);
    check(&fresh, &data, Kind::Double, 1e-12);
    let wide = Mlp::new(MlpShape::fashion(64), 3, Kind::Float, Device::Cpu);
    let batch = crate::bench::random_batch(200, 4, Device::Cpu);
    check(&wide, &batch, Kind::Float, 1e-5);
    // A wrong length is an error naming both lengths, not a panic.
    let obj = model_objective(&trained, &data, Mode::Eval);
    let h = Hvp::new(&obj, HvpMethod::Exact, 0.0).unwrap();
    let err = h
        .apply(&Tensor::zeros([5], (Kind::Double, Device::Cpu)))
        .unwrap_err()
        .to_string();
    assert!(err.contains("[5]") && err.contains("183"), "{err}");
    // Parameter lists the R-operator cannot serve are refused, not mis-assigned: out of order,
    // a weight missing, a bias that cancels in batch mode.
    let all: Vec<usize> = (0..trained.params.len()).collect();
    let mut swapped = all.clone();
    swapped.swap(0, 1);
    let no_weight: Vec<usize> = all[1..].to_vec();
    for (keep, mode) in [
        (swapped, Mode::Eval),
        (no_weight, Mode::Eval),
        (all.clone(), Mode::Batch),
    ] {
        let err = MlpHvp::new(&trained, &data, mode, &keep)
            .err()
            .expect("refused")
            .to_string();
        assert!(err.contains("increasing list"), "{keep:?} {mode:?}: {err}");
    }
    assert!(MlpHvp::new(&trained, &data, Mode::Eval, &all).is_ok());
}
