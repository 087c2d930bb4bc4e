//! One exact Hessian-vector product and power iteration for λ_max on a 1000-sample batch of the
//! paper's MLP, by width, reported as samples/s. CPU only so far.
use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use tch::{Device, Kind, Tensor};
use three_factors::config::HvpMethod;
use three_factors::curvature::{model_objective, power_iteration, Hvp};
use three_factors::data::Subset;
use three_factors::determinism::Rng;
use three_factors::model::{Mlp, MlpShape};

fn hvp(c: &mut Criterion) {
    tch::set_num_threads(1);
    let mut g = c.benchmark_group("hvp_cpu");
    g.sample_size(10);
    for width in [128usize, 512] {
        let model = Mlp::new(MlpShape::fashion(width), 0, Kind::Float, Device::Cpu);
        let data = Subset {
            x: Tensor::randn([1000, 784], (Kind::Float, Device::Cpu)),
            y: Tensor::randint(10, [1000], (Kind::Int64, Device::Cpu)),
        };
        let obj = model_objective(&model, &data);
        let h = Hvp::new(&obj, HvpMethod::Exact, 0.0).expect("hvp");
        let v = Tensor::randn([obj.dim()], (Kind::Float, Device::Cpu));
        g.throughput(Throughput::Elements(1000));
        g.bench_with_input(BenchmarkId::new("exact", width), &width, |b, _| {
            b.iter(|| h.apply(&v).expect("hvp"))
        });
        g.bench_with_input(
            BenchmarkId::new("power_iteration_20", width),
            &width,
            |b, _| b.iter(|| power_iteration(&h, &mut Rng::new(0), 0.0, 20).expect("power")),
        );
    }
    g.finish();
}

criterion_group!(benches, hvp);
criterion_main!(benches);
