//! The exact Hessian-vector product of the MLP's cross-entropy written out by hand: Pearlmutter's
//! R-operator (R{f} = ∂f(θ + r v)/∂r at r = 0) applied to one forward and one backward pass.
//!
//! Everything that does not depend on v — the activations, the normalised pre-activations, the
//! BatchNorm scales, the back-propagated gradients — is computed once at θ, without autograd
//! ([`MlpHvp::new`]). A product then costs one R-forward and one R-backward pass: per hidden
//! layer six matrix products (two for the layer below the input), the same count as double
//! backward, but about a third of double backward's elementwise passes, no autograd graph and
//! no bookkeeping, and the result written straight into one flat vector. Exact up to rounding:
//! the tests compare it with double backward in float64.
//!
//! Notation, per hidden layer l with input h (h₀ = x): z = hWᵀ + b; BatchNorm
//! ẑ = (z − μ)·ι with ι = 1/√(σ² + ε) (eval: running statistics, fixed; batch: the statistics of
//! these samples, functions of θ); y = γ ⊙ ẑ + β; h' = relu(y). Output o = h_L W_oᵀ + b_o,
//! p = softmax(o), loss = mean cross-entropy, so ∂loss/∂o = (p − onehot)/S.
use crate::data::Subset;
use crate::error::{Error, Result};
use crate::model::{Mlp, Mode, BN_EPS};
use tch::Tensor;

/// One hidden layer's quantities at θ.
struct Hidden {
    /// Indices of `l.weight`, `l.bias`, `bn.weight`, `bn.bias` in the model's parameters.
    index: [usize; 4],
    w: Tensor,
    gamma: Tensor,
    /// ẑ, `[S, width]`.
    zhat: Tensor,
    /// ι, `[width]`.
    iota: Tensor,
    /// ∂loss/∂y (after the ReLU's mask) and ∂loss/∂z, `[S, width]`.
    dy: Tensor,
    dz: Tensor,
    /// Batch mode only: mean over samples of ẑ ⊙ ∂loss/∂y and of ∂loss/∂y, `[width]`.
    mean_zhat_dy: Option<(Tensor, Tensor)>,
}

/// The exact HVP operator at the model's current parameters on `data`, BatchNorm in `mode`
/// (`Eval` or `Batch`), over the parameters at `keep` (indices into `model.params`, in order).
pub struct MlpHvp {
    batch: bool,
    /// h₀ = x, h₁, …, h_L (the ReLU outputs).
    hs: Vec<Tensor>,
    layers: Vec<Hidden>,
    out_index: [usize; 2],
    w_out: Tensor,
    /// softmax(o) and ∂loss/∂o, `[S, classes]`.
    p: Tensor,
    d_out: Tensor,
    n: f64,
    /// For every model parameter, when included: its offset in the flat vectors and its shape.
    slots: Vec<Option<(i64, Vec<i64>)>>,
    dim: i64,
}

impl MlpHvp {
    /// Runs the forward and backward pass at θ and keeps what every product needs.
    pub fn new(model: &Mlp, data: &Subset, mode: Mode, keep: &[usize]) -> Result<MlpHvp> {
        let batch =
            match mode {
                Mode::Eval => false,
                Mode::Batch => true,
                Mode::Train => return Err(Error::Invalid(
                    "the R-operator HVP takes BatchNorm in eval or batch mode, not train (which \
                     updates the running averages)"
                        .into(),
                )),
            };
        let hidden = model.shape.hidden;
        let must: Vec<usize> = (0..hidden)
            .flat_map(|l| [4 * l, 4 * l + 2, 4 * l + 3])
            .chain([4 * hidden])
            .collect();
        let bias_ok = |i: usize| i == 4 * hidden + 1 || (i % 4 == 1 && !batch);
        if !keep.windows(2).all(|w| w[0] < w[1])
            || keep.last().is_some_and(|&i| i >= model.params.len())
            || must.iter().any(|i| !keep.contains(i))
            || keep.iter().any(|&i| !must.contains(&i) && !bias_ok(i))
        {
            return Err(Error::Invalid(format!(
                "R-operator HVP: parameter indices {keep:?} are not an increasing list with every \
                 weight and BatchNorm parameter{}",
                if batch {
                    " and without the biases that feed a BatchNorm (batch mode)"
                } else {
                    ""
                }
            )));
        }
        tch::no_grad(|| {
            let p = |i: usize| model.params[i].1.detach();
            let n = data.len() as f64;
            let mut hs = vec![data.x.shallow_clone()];
            let mut fwd = Vec::with_capacity(hidden);
            for l in 0..hidden {
                let index = [4 * l, 4 * l + 1, 4 * l + 2, 4 * l + 3];
                let (w, b, gamma, beta) = (p(index[0]), p(index[1]), p(index[2]), p(index[3]));
                let z = hs[l].linear(&w, Some(&b));
                let (mean, var) = if batch {
                    let mean = z.mean_dim(0, false, z.kind());
                    (mean, z.var_dim(0, false, false))
                } else {
                    (
                        model.buffers[2 * l].1.detach(),
                        model.buffers[2 * l + 1].1.detach(),
                    )
                };
                let iota = (var + BN_EPS).rsqrt();
                let zhat = (z - mean) * &iota;
                hs.push((&zhat * &gamma + &beta).relu());
                fwd.push((index, w, gamma, zhat, iota));
            }
            let o = 4 * hidden;
            let (w_out, b_out) = (p(o), p(o + 1));
            let logits = hs[hidden].linear(&w_out, Some(&b_out));
            let prob = logits.softmax(1, logits.kind());
            let onehot = data.y.one_hot(w_out.size()[0]).to_kind(prob.kind());
            let d_out = (&prob - onehot) / n;
            // Backward at θ.
            let mut dh = d_out.mm(&w_out);
            let mut layers: Vec<Hidden> = Vec::with_capacity(hidden);
            for (l, (index, w, gamma, zhat, iota)) in fwd.into_iter().enumerate().rev() {
                let dy = hs[l + 1].threshold_backward(&dh, 0.0);
                let dzhat = &dy * &gamma;
                let (dz, mean_zhat_dy) = if batch {
                    let m_dy = dy.mean_dim(0, false, dy.kind());
                    let m_zdy = (&zhat * &dy).mean_dim(0, false, dy.kind());
                    let dz = (&dzhat - &m_dy * &gamma - &zhat * (&m_zdy * &gamma)) * &iota;
                    (dz, Some((m_zdy, m_dy)))
                } else {
                    (dzhat * &iota, None)
                };
                if l > 0 {
                    dh = dz.mm(&w);
                }
                layers.push(Hidden {
                    index,
                    w,
                    gamma,
                    zhat,
                    iota,
                    dy,
                    dz,
                    mean_zhat_dy,
                });
            }
            layers.reverse();
            let mut slots = vec![None; model.params.len()];
            let mut off = 0;
            for &i in keep {
                slots[i] = Some((off, model.params[i].1.size()));
                off += model.params[i].1.numel() as i64;
            }
            Ok(MlpHvp {
                batch,
                hs,
                layers,
                out_index: [o, o + 1],
                w_out,
                p: prob,
                d_out,
                n,
                slots,
                dim: off,
            })
        })
    }

    pub fn dim(&self) -> i64 {
        self.dim
    }

    /// Hv for a flat `v` of length D (the included parameters, in order).
    pub fn apply(&self, v: &Tensor) -> Result<Tensor> {
        if v.size() != [self.dim] {
            return Err(Error::Invalid(format!(
                "HVP: v has shape {:?}, expected [{}]",
                v.size(),
                self.dim
            )));
        }
        tch::no_grad(|| Ok(self.apply_inner(&v.detach())))
    }

    fn apply_inner(&self, v: &Tensor) -> Tensor {
        // Parameter i's block of a flat vector, shaped like it (a view), when included.
        let block = |flat: &Tensor, i: usize| -> Option<Tensor> {
            self.slots[i].as_ref().map(|(off, shape)| {
                flat.narrow(0, *off, shape.iter().product())
                    .view(shape.as_slice())
            })
        };
        let vs: Vec<Option<Tensor>> = (0..self.slots.len()).map(|i| block(v, i)).collect();
        let out = Tensor::empty([self.dim], (v.kind(), v.device()));
        let slot_of = |i: usize| block(&out, i);
        let hidden = self.layers.len();
        // R-forward: R{h_l} for every layer, and what the R-backward needs.
        let mut rh: Vec<Option<Tensor>> = vec![None];
        // Per layer R{ẑ} (batch) or R{z} (eval, where R{ẑ} = ι ⊙ R{z}).
        let mut rzhat = Vec::with_capacity(hidden);
        let mut c = Vec::with_capacity(hidden);
        for (l, layer) in self.layers.iter().enumerate() {
            let [iw, ib, ig, ibeta] = layer.index;
            let vw = vs[iw].as_ref().expect("weights are always included");
            let mut rz = match &vs[ib] {
                Some(vb) => vb.addmm(&self.hs[l], &vw.tr()),
                None => self.hs[l].mm(&vw.tr()),
            };
            if let Some(r) = &rh[l] {
                let _ = rz.addmm_(r, &layer.w.tr());
            }
            let vg = vs[ig]
                .as_ref()
                .expect("BatchNorm scales are always included");
            let vbeta = vs[ibeta]
                .as_ref()
                .expect("BatchNorm shifts are always included");
            // R{ẑ}: eval ι ⊙ R{z} (kept as R{z}, scaled where used); batch
            // ι ⊙ (R{z} − mean R{z} − ẑ ⊙ c) with c = mean(ẑ ⊙ R{z}) = R{σ}.
            // R{h} = mask ⊙ (V_β + γ ⊙ R{ẑ} + V_γ ⊙ ẑ).
            let (kept, scale) = if self.batch {
                let cl = (&layer.zhat * &rz).mean_dim(0, false, rz.kind());
                let shift = rz.mean_dim(0, false, rz.kind()) * &layer.iota;
                let mut rz_hat = &rz * &layer.iota - shift;
                let _ = rz_hat.addcmul_(&layer.zhat, &(-(&cl * &layer.iota)));
                c.push(Some(cl));
                (rz_hat, layer.gamma.shallow_clone())
            } else {
                c.push(None);
                (rz, &layer.gamma * &layer.iota)
            };
            rh.push(Some(forward_pass(
                &kept,
                &self.hs[l + 1],
                &layer.zhat,
                &scale,
                vg,
                vbeta,
            )));
            rzhat.push(kept);
        }
        // Output layer.
        let [io_w, io_b] = self.out_index;
        let vo = vs[io_w]
            .as_ref()
            .expect("the output weight is always included");
        let h_last = &self.hs[hidden];
        let rh_last = rh[hidden].as_ref().expect("at least one hidden layer");
        let mut ro = match &vs[io_b] {
            Some(vb) => vb.addmm(h_last, &vo.tr()),
            None => h_last.mm(&vo.tr()),
        };
        let _ = ro.addmm_(rh_last, &self.w_out.tr());
        let pr = &self.p * &ro;
        let rd_out = (&pr - &self.p * pr.sum_dim_intlist(1, true, pr.kind())) / self.n;
        if let Some(mut s) = slot_of(io_w) {
            let _ = rd_out.tr().mm_out(&s, h_last);
            let _ = s.addmm_(&self.d_out.tr(), rh_last);
        }
        if let Some(mut s) = slot_of(io_b) {
            s.copy_(&rd_out.sum_dim_intlist(0, false, rd_out.kind()));
        }
        let mut rdh = rd_out.mm(&self.w_out);
        let _ = rdh.addmm_(&self.d_out, vo);
        // R-backward through the hidden layers, top down.
        for l in (0..hidden).rev() {
            let layer = &self.layers[l];
            let [iw, ib, ig, ibeta] = layer.index;
            let vg = vs[ig].as_ref().expect("included");
            // R{dy} = mask ⊙ R{dh}; R{∂loss/∂ẑ} = V_γ ⊙ dy + γ ⊙ R{dy}, through the (eval)
            // normalisation: R{dz} = ι ⊙ (γ ⊙ R{dy} + V_γ ⊙ dy); and the column sums
            // Σ_s R{dy}⊙ẑ, Σ_s dy⊙R{ẑ} (R{∂loss/∂γ}, reused by batch mode), Σ_s R{dy}, Σ_s R{dz}.
            let gi = &layer.gamma * &layer.iota;
            let vgi = vg * &layer.iota;
            let (mut rdz, [rdy_zhat, mut dy_rzhat, rdy_sum, rdz_sum]) = backward_pass(
                &rdh,
                &self.hs[l + 1],
                &layer.zhat,
                &layer.dy,
                &rzhat[l],
                &gi,
                &vgi,
            );
            if !self.batch {
                dy_rzhat *= &layer.iota;
            }
            if let Some(mut s) = slot_of(ig) {
                s.copy_(&(&rdy_zhat + &dy_rzhat));
            }
            if let Some(mut s) = slot_of(ibeta) {
                s.copy_(&rdy_sum);
            }
            if let (Some((m_zdy, m_dy)), Some(cl)) = (&layer.mean_zhat_dy, &c[l]) {
                let n = self.n;
                // mean R{dẑ}, mean(R{ẑ}⊙dẑ + ẑ⊙R{dẑ}), and the mean(ẑ⊙dẑ) = γ⊙mean(ẑ⊙dy).
                let m_rdzhat = vg * m_dy + &layer.gamma * (&rdy_sum / n);
                let m_cross =
                    &layer.gamma * (&dy_rzhat / n) + vg * m_zdy + &layer.gamma * (&rdy_zhat / n);
                let m1 = &layer.gamma * m_zdy;
                let _ = rdz.addcmul_(&rzhat[l], &(-(m1 * &layer.iota)));
                let _ = rdz.addcmul_(&layer.dz, &(-(cl * &layer.iota)));
                let _ = rdz.addcmul_(&layer.zhat, &(-(m_cross * &layer.iota)));
                let _ = rdz.g_sub_(&(m_rdzhat * &layer.iota));
            }
            if let Some(mut s) = slot_of(iw) {
                let _ = rdz.tr().mm_out(&s, &self.hs[l]);
                if let Some(r) = &rh[l] {
                    let _ = s.addmm_(&layer.dz.tr(), r);
                }
            }
            if let Some(mut s) = slot_of(ib) {
                // Only in eval mode (batch mode leaves these biases out), where rdz is complete.
                s.copy_(&rdz_sum);
            }
            if l > 0 {
                let vw = vs[iw].as_ref().expect("included");
                rdh = rdz.mm(&layer.w);
                let _ = rdh.addmm_(&layer.dz, vw);
            }
        }
        out
    }
}

/// mask ⊙ (vb + a ⊙ r + vg ⊙ ẑ), the mask h > 0; `a`, `vg`, `vb` per feature.
fn forward_pass(
    r: &Tensor,
    h: &Tensor,
    zhat: &Tensor,
    a: &Tensor,
    vg: &Tensor,
    vb: &Tensor,
) -> Tensor {
    let mut y = vb.addcmul(r, a);
    let _ = y.addcmul_(zhat, vg);
    h.threshold_backward(&y, 0.0)
}

/// With R{dy} = mask ⊙ rdh: R{dz} = gi ⊙ R{dy} + vgi ⊙ dy, and the column sums Σ R{dy}⊙ẑ,
/// Σ dy⊙k, Σ R{dy}, Σ R{dz}.
fn backward_pass(
    rdh: &Tensor,
    h: &Tensor,
    zhat: &Tensor,
    dy: &Tensor,
    k: &Tensor,
    gi: &Tensor,
    vgi: &Tensor,
) -> (Tensor, [Tensor; 4]) {
    let kind = rdh.kind();
    let rdy = h.threshold_backward(rdh, 0.0);
    let mut rdz = &rdy * gi;
    let _ = rdz.addcmul_(dy, vgi);
    let sums = [
        (&rdy * zhat).sum_dim_intlist(0, false, kind),
        (dy * k).sum_dim_intlist(0, false, kind),
        rdy.sum_dim_intlist(0, false, kind),
        rdz.sum_dim_intlist(0, false, kind),
    ];
    (rdz, sums)
}
