//! One SGD step (forward, backward, update) of the paper's MLP on random Fashion-MNIST-shaped
//! inputs, by batch size and width, reported as samples/s. CPU only so far.
use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use tch::{Device, Kind, Tensor};
use three_factors::config::RunConfig;
use three_factors::model::{Mlp, MlpShape};
use three_factors::train::Sgd;

fn sgd_step(c: &mut Criterion) {
    tch::set_num_threads(1);
    let mut g = c.benchmark_group("sgd_step_cpu");
    g.sample_size(10);
    for width in [128usize, 512] {
        for s in [25i64, 128, 1000] {
            let model = Mlp::new(MlpShape::fashion(width), 0, Kind::Float, Device::Cpu);
            let mut sgd = Sgd::new(&RunConfig::adhoc().sgd);
            let x = Tensor::randn([s, 784], (Kind::Float, Device::Cpu));
            let y = Tensor::randint(10, [s], (Kind::Int64, Device::Cpu));
            g.throughput(Throughput::Elements(s as u64));
            g.bench_with_input(BenchmarkId::new(format!("w{width}"), s), &s, |b, _| {
                b.iter(|| sgd.step(&model, &x, &y, 0.01).expect("step"))
            });
        }
    }
    g.finish();
}

criterion_group!(benches, sgd_step);
criterion_main!(benches);
