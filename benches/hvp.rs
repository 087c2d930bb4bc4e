//! One exact Hessian-vector product (the R-operator, and double backward for comparison), 20
//! power iterations and Lanczos λ_max (tol 1e-3) on a 1000-sample batch of the paper's MLP, by
//! width and device, reported as samples/s. CUDA runs when libtorch sees a GPU, timed with
//! `iter_custom` and explicit synchronisation.
use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use std::time::{Duration, Instant};
use tch::{Device, Kind, Tensor};
use three_factors::bench::{random_batch, sync};
use three_factors::config::HvpMethod;
use three_factors::curvature::{lanczos, model_objective, power_iteration, Hvp};
use three_factors::determinism::Rng;
use three_factors::model::{Mlp, MlpShape};

/// `iters` calls of `f`, timed between two device synchronisations.
fn timed(device: Device, iters: u64, mut f: impl FnMut()) -> Duration {
    sync(device);
    let t = Instant::now();
    for _ in 0..iters {
        f();
    }
    sync(device);
    t.elapsed().max(Duration::from_nanos(1))
}

fn hvp(c: &mut Criterion) {
    tch::set_num_threads(1);
    let mut devices = vec![("cpu", Device::Cpu)];
    if tch::Cuda::is_available() {
        devices.push(("cuda", Device::Cuda(0)));
    }
    for (name, device) in devices {
        let mut g = c.benchmark_group(format!("hvp_{name}"));
        g.sample_size(10);
        for width in [128usize, 512] {
            let model = Mlp::new(MlpShape::fashion(width), 0, Kind::Float, device);
            let data = random_batch(1000, 7, device);
            let obj = model_objective(&model, &data, three_factors::model::Mode::Eval);
            let h = Hvp::new(&obj, HvpMethod::Exact, 0.0).expect("hvp");
            let v = Tensor::randn([obj.dim()], (Kind::Float, device));
            g.throughput(Throughput::Elements(1000));
            g.bench_with_input(BenchmarkId::new("exact", width), &width, |b, _| {
                b.iter_custom(|n| timed(device, n, || drop(h.apply(&v).expect("hvp"))))
            });
            let db = Hvp::new(&obj, HvpMethod::DoubleBackward, 0.0).expect("hvp");
            g.bench_with_input(
                BenchmarkId::new("double_backward", width),
                &width,
                |b, _| b.iter_custom(|n| timed(device, n, || drop(db.apply(&v).expect("hvp")))),
            );
            g.bench_with_input(
                BenchmarkId::new("power_iteration_20", width),
                &width,
                |b, _| {
                    b.iter_custom(|n| {
                        timed(device, n, || {
                            drop(power_iteration(&h, &mut Rng::new(0), 0.0, 20).expect("power"))
                        })
                    })
                },
            );
            g.bench_with_input(
                BenchmarkId::new("lanczos_tol1e-3", width),
                &width,
                |b, _| {
                    b.iter_custom(|n| {
                        timed(device, n, || {
                            drop(lanczos(&h, &mut Rng::new(0), 1e-3, 100).expect("lanczos"))
                        })
                    })
                },
            );
        }
        g.finish();
    }
}

criterion_group!(benches, hvp);
criterion_main!(benches);
