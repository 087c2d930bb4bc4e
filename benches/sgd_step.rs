//! One SGD step (forward, backward, update) of the paper's MLP on random Fashion-MNIST-shaped
//! inputs, by batch size, width and device, reported as samples/s. CUDA runs when libtorch sees a
//! GPU, timed with `iter_custom` and explicit synchronisation (kernels are asynchronous).
use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use std::time::{Duration, Instant};
use tch::{Device, Kind};
use three_factors::bench::{random_batch, sync};
use three_factors::config::RunConfig;
use three_factors::model::{Mlp, MlpShape};
use three_factors::train::Sgd;

fn devices() -> Vec<(&'static str, Device)> {
    let mut d = vec![("cpu", Device::Cpu)];
    if tch::Cuda::is_available() {
        d.push(("cuda", Device::Cuda(0)));
    }
    d
}

fn sgd_step(c: &mut Criterion) {
    tch::set_num_threads(1);
    for (name, device) in devices() {
        let mut g = c.benchmark_group(format!("sgd_step_{name}"));
        g.sample_size(10);
        for width in [128usize, 512] {
            for s in [25usize, 128, 1000] {
                let model = Mlp::new(MlpShape::fashion(width), 0, Kind::Float, device);
                let mut sgd = Sgd::new(&RunConfig::adhoc().sgd);
                let batch = random_batch(s, s as u64, device);
                g.throughput(Throughput::Elements(s as u64));
                g.bench_with_input(BenchmarkId::new(format!("w{width}"), s), &s, |b, _| {
                    b.iter_custom(|iters| {
                        sync(device);
                        let t = Instant::now();
                        for _ in 0..iters {
                            let _ = sgd.step(&model, &batch.x, &batch.y, 1e-6).expect("step");
                        }
                        sync(device);
                        t.elapsed().max(Duration::from_nanos(1))
                    })
                });
            }
        }
        g.finish();
    }
}

criterion_group!(benches, sgd_step);
criterion_main!(benches);
