//! The fused LSTM step: one operation per time step, with its own backward node inside
//! burn's autodiff, on the CPU backends (flex, ndarray).
//!
//! A step adds the recurrent product to its time slice of the layer's input projection and
//! applies the gates in one pass, producing the packed `(h, c)` state. Its backward node
//! computes the gates' gradient and the previous state's gradient; burn's autodiff walks the
//! steps back through time as it does for any graph.
//!
//! Some work is shared by the steps of one layer call through its [`LayerRun`]: the input
//! projection `x·W_x + b` of all steps is one product, made by the first step; and the
//! gradients of the layer input, the input weights, the biases and the recurrent weights are
//! gathered rather than added step by step (each step owns one time slice of the projection,
//! so a per-step gradient would be a mostly-zero full-size tensor, and one product over all
//! steps beats one per step). Every step leaves its share in the [`LayerRun`]; the first
//! step, whose backward node runs last, turns the shares into those gradients.

// burn-ndarray is deprecated in burn 0.22 but remains a supported backend of this crate.
#![allow(deprecated)]

mod autodiff;
mod cross_entropy;
mod fastmath;
mod kernel;

use std::sync::{Arc, Mutex};

use burn::backend::TensorMetadata;
use burn::backend::{Backend, Dispatch, backend_extension, read_sync, tensor::FloatTensor};
use burn::prelude::*;
use burn::tensor::DType;

pub(crate) use cross_entropy::{Targets, linear_cross_entropy};
pub(crate) use kernel::Dims;
use kernel::{Elem, StepActivations};

#[cfg(feature = "flex")]
use burn::backend::Flex;
#[cfg(feature = "ndarray")]
use burn::backend::NdArray;

/// Whether the fused step runs on `device` for `dtype`: the CPU backends, in f32 or f64.
pub(crate) fn supported(device: &Device, dtype: DType) -> bool {
    use burn::backend::DispatchDevice;
    let cpu = match device.clone().without_autodiff().as_dispatch() {
        #[cfg(feature = "flex")]
        DispatchDevice::Flex(_) => true,
        #[cfg(feature = "ndarray")]
        DispatchDevice::NdArray(_) => true,
        #[allow(unreachable_patterns)]
        _ => false,
    };
    cpu && matches!(dtype, DType::F32 | DType::F64) && enabled()
}

static ENABLED: std::sync::atomic::AtomicU8 = std::sync::atomic::AtomicU8::new(2);

fn enabled() -> bool {
    use std::sync::atomic::Ordering;
    match ENABLED.load(Ordering::Relaxed) {
        0 => false,
        1 => true,
        _ => {
            let on = std::env::var("BURN_LSTM_FUSED").map_or(true, |v| v != "0");
            ENABLED.store(on as u8, Ordering::Relaxed);
            on
        }
    }
}

/// Turns the fused CPU step on or off for the whole process (it is on unless the environment
/// variable `BURN_LSTM_FUSED=0` says otherwise). Both paths compute the same thing; this is
/// for comparing them.
#[doc(hidden)]
pub fn set_fused_steps(on: bool) {
    ENABLED.store(on as u8, std::sync::atomic::Ordering::Relaxed);
}

/// Host copies and gathered gradients shared by the steps of one layer call.
#[derive(Debug)]
struct LayerCache<E> {
    /// `[D, T·N, G]`, made by the first step, dropped after the last.
    xp: Option<Arc<Vec<E>>>,
    /// The layer input and input weights, kept for the gradients that need them.
    input: Option<Arc<Vec<E>>>,
    input_weights: Option<Arc<Vec<E>>>,
    weights: Option<Arc<Vec<E>>>,
    /// `[D, G, H]`, made by the first backward step.
    transposed_weights: Option<Arc<Vec<E>>>,
    /// The state the last step produced, so the next step need not read it back.
    last_state: Option<(usize, Arc<Vec<E>>)>,
    /// What the backward steps leave for the layer gradients (made by the first of them).
    gathered: Option<kernel::GatheredSteps<E>>,
}

/// The shared part of one layer's fused steps (see the module documentation).
#[derive(Clone, Debug)]
pub struct LayerRun {
    dims: Dims,
    cache: Arc<Mutex<Option<Box<dyn std::any::Any + Send>>>>,
}

impl LayerRun {
    pub(crate) fn new(dims: Dims) -> Self {
        Self {
            dims,
            cache: Arc::new(Mutex::new(None)),
        }
    }

    fn with_cache<E: Elem, R>(&self, f: impl FnOnce(&mut LayerCache<E>) -> R) -> R {
        let mut guard = self.cache.lock().expect("layer cache");
        let cache = guard.get_or_insert_with(|| {
            Box::new(LayerCache::<E> {
                xp: None,
                input: None,
                input_weights: None,
                weights: None,
                transposed_weights: None,
                last_state: None,
                gathered: None,
            })
        });
        f(cache
            .downcast_mut::<LayerCache<E>>()
            .expect("one dtype per layer call"))
    }

    /// Frees the host copies and gathered gradients.
    fn release(&self) {
        *self.cache.lock().expect("layer cache") = None;
    }
}

/// The tensors every step of a layer reads (see [`LstmStepBackend::lstm_step`]).
pub(crate) struct StepInputs {
    /// `[T, N, F]`
    pub input: Tensor<3>,
    /// `[F, D·4H]`
    pub input_weights: Tensor<2>,
    /// `[D·4H]`
    pub bias: Tensor<1>,
    /// `[D, H, 4H]`
    pub weights: Tensor<3>,
}

fn to_host<B: Backend, E: Elem>(tensor: FloatTensor<B>) -> Vec<E> {
    read_sync(B::float_into_data(tensor))
        .expect("read a CPU tensor")
        .try_into_vec::<E>()
        .expect("the tensor's dtype")
}

fn from_host<B: Backend, E: Elem>(
    values: Vec<E>,
    shape: &[usize],
    device: &B::Device,
) -> FloatTensor<B> {
    B::float_from_data(TensorData::new(values, shape.to_vec()), device)
}

/// The primitives of a step's inputs.
struct Primitives<'a, B: Backend> {
    input: &'a FloatTensor<B>,
    input_weights: &'a FloatTensor<B>,
    bias: &'a FloatTensor<B>,
    weights: &'a FloatTensor<B>,
}

/// One step on a plain backend: the new packed state, and what backward would need.
/// `keep_input` and `keep_input_weights` say which of them the gradients will need.
fn forward_on<B: Backend, E: Elem>(
    inputs: Primitives<'_, B>,
    state: FloatTensor<B>,
    step: usize,
    run: &LayerRun,
    (keep_input, keep_input_weights): (bool, bool),
) -> (FloatTensor<B>, StepActivations<E>) {
    let dims = run.dims;
    let device = state.device();
    let (xp, weights, previous) = run.with_cache::<E, _>(|cache| {
        if cache.xp.is_none() {
            let input = Arc::new(to_host::<B, E>(inputs.input.clone()));
            let input_weights = Arc::new(to_host::<B, E>(inputs.input_weights.clone()));
            let bias = to_host::<B, E>(inputs.bias.clone());
            cache.xp = Some(Arc::new(kernel::input_projection(
                dims,
                &input,
                &input_weights,
                &bias,
            )));
            cache.weights = Some(Arc::new(to_host::<B, E>(inputs.weights.clone())));
            cache.input = keep_input.then_some(input);
            cache.input_weights = keep_input_weights.then_some(input_weights);
        }
        let previous = match cache.last_state.take() {
            Some((produced_by, state)) if step > 0 && produced_by == step - 1 => Some(state),
            _ => None,
        };
        (
            cache.xp.clone().expect("made above"),
            cache.weights.clone().expect("made above"),
            previous,
        )
    });
    let previous = previous.unwrap_or_else(|| Arc::new(to_host::<B, E>(state)));
    let (next, saved) = kernel::step_forward(dims, step, &xp, &weights, previous);
    let next = Arc::new(next);
    run.with_cache::<E, _>(|cache| {
        cache.last_state = Some((step, next.clone()));
        if step + 1 == dims.steps {
            // Backward does not need the projection: free it now.
            cache.xp = None;
            cache.last_state = None;
        }
    });
    let shape = [dims.directions, dims.batch, 2 * dims.hidden];
    (from_host::<B, E>((*next).clone(), &shape, &device), saved)
}

/// The fused step as a burn backend operation.
#[backend_extension(Flex: cfg(feature = "flex"), NdArray: cfg(feature = "ndarray"), Autodiff)]
pub trait LstmStepBackend: Backend {
    /// One step of every direction of a layer.
    ///
    /// - `input`: `[T, N, F]`, the layer's input (time order)
    /// - `input_weights`: `[F, D·4H]`; `bias`: `[D·4H]` (both biases of every gate, summed)
    /// - `state`: `[D, N, 2H]`, the packed `(h, c)` the step starts from
    /// - `weights`: `[D, H, 4H]`, the recurrent weights (gates i, f, o, g)
    ///
    /// Returns the packed state after the step.
    fn lstm_step(
        input: FloatTensor<Self>,
        input_weights: FloatTensor<Self>,
        bias: FloatTensor<Self>,
        state: FloatTensor<Self>,
        weights: FloatTensor<Self>,
        step: usize,
        run: LayerRun,
    ) -> FloatTensor<Self> {
        let inputs = Primitives {
            input: &input,
            input_weights: &input_weights,
            bias: &bias,
            weights: &weights,
        };
        match state.dtype() {
            DType::F64 => forward_on::<Self, f64>(inputs, state, step, &run, (false, false)).0,
            _ => forward_on::<Self, f32>(inputs, state, step, &run, (false, false)).0,
        }
    }
}

#[cfg(feature = "flex")]
impl LstmStepBackend for Flex {}
#[cfg(feature = "ndarray")]
impl LstmStepBackend for NdArray {}

/// Runs one fused step (see [`LstmStepBackend::lstm_step`]).
pub(crate) fn lstm_step(
    inputs: &StepInputs,
    state: Tensor<3>,
    step: usize,
    run: &LayerRun,
) -> Tensor<3> {
    Tensor::from_dispatch(<Dispatch as LstmStepBackend>::lstm_step(
        inputs.input.clone().into_dispatch(),
        inputs.input_weights.clone().into_dispatch(),
        inputs.bias.clone().into_dispatch(),
        state.into_dispatch(),
        inputs.weights.clone().into_dispatch(),
        step,
        run.clone(),
    ))
}
