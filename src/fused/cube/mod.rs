//! The fused layer on burn's CubeCL backend (wgpu; CUDA builds it too): what the CPU backends
//! do on the host (`fused::host`), on the device.
//!
//! - Forward: the input projection of every step of both directions, `x·W_x + b`, is one burn
//!   matmul; the recurrence is one kernel launch ([`kernels`]) for the whole layer.
//! - Backward: one kernel launch turns the saved gates into their pre-activation gradient at
//!   every step; the input, weight and bias gradients are then one burn product (or sum) each
//!   over all steps.
//!
//! Nothing grows faster than the sequence length, and the number of launches does not grow
//! with it at all. The kernels sit behind [`LstmRecurrenceBackend`], a backend extension burn's
//! fusion layer records as one opaque operation.

mod kernels;

use burn::backend::fusion::custom::TensorSpec;
use burn::backend::ops::FloatTensorOps;
use burn::backend::{Backend, Cube, TensorMetadata, backend_extension, tensor::FloatTensor};
use burn::tensor::{DType, Shape, TensorData};
use burn_cubecl::CubeBackend;
use burn_cubecl::kernel::into_contiguous;
use burn_cubecl::ops::numeric::empty_device_dtype;
use burn_cubecl::tensor::CubeTensor;
use cubecl::prelude::{CubeCount, CubeDim, TensorArg};

use super::contract::{
    InputGradients, LayerCall, LayerDims, LayerOperands, LayerPrimitives, LayerResults,
    LayerTraining, LstmLayerBackend, ResultGradients, Wanted,
};
use kernels::{SizesLaunch, lstm_backward_kernel, lstm_forward_kernel};

static KERNEL_LAUNCHES: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);

/// How many recurrence kernels this process has launched (forward and backward): lets the
/// tests check that the kernels, not the composed path, computed what they compare.
#[cfg_attr(not(feature = "testing"), allow(dead_code))]
pub(crate) fn recurrence_kernel_launches() -> usize {
    KERNEL_LAUNCHES.load(std::sync::atomic::Ordering::Relaxed)
}

/// The sizes and switches of a recurrence kernel call.
#[derive(Clone, Copy, Debug)]
pub struct RecurrenceCall {
    /// `T`
    pub steps: usize,
    /// `N`
    pub batch: usize,
    /// `H`
    pub hidden: usize,
    /// `Hout`
    pub hidden_out: usize,
    /// `D`
    pub directions: usize,
    /// Whether sequences are `[N, T, ·]`.
    pub batch_first: bool,
    /// Keep what the backward pass needs.
    pub train: bool,
    /// Whether `projection` is real (an LSTMP).
    pub projection: bool,
    /// Whether `recurrent_mask` is real.
    pub recurrent_mask: bool,
    /// Backward: whether `grad_output` is real (else nothing reached the output sequence).
    pub output_gradient: bool,
    /// Backward: whether `grad_cell` is real.
    pub cell_gradient: bool,
}

impl RecurrenceCall {
    fn new(dims: &LayerDims, call: &LayerCall, train: bool) -> Self {
        Self {
            steps: dims.steps,
            batch: dims.batch,
            hidden: dims.hidden,
            hidden_out: dims.hidden_out,
            directions: dims.directions,
            batch_first: dims.batch_first,
            train,
            projection: call.projection,
            recurrent_mask: call.recurrent_mask,
            output_gradient: false,
            cell_gradient: false,
        }
    }

    fn rows(&self) -> usize {
        self.steps * self.batch
    }

    /// `[T, N, width]` or `[N, T, width]`
    fn sequence(&self, width: usize) -> Shape {
        match self.batch_first {
            true => Shape::from([self.batch, self.steps, width]),
            false => Shape::from([self.steps, self.batch, width]),
        }
    }

    fn state(&self, width: usize) -> Shape {
        Shape::from([self.directions, self.batch, width])
    }

    /// The shapes of [`LstmRecurrenceBackend::lstm_recurrence`]'s results; `[1]` for the ones
    /// this call does not fill.
    fn forward_shapes(&self) -> [Shape; 7] {
        let (d, h, hout) = (self.directions, self.hidden, self.hidden_out);
        let unused = || Shape::from([1]);
        let kept = |width: usize| match self.train {
            true => Shape::from([self.rows(), width]),
            false => unused(),
        };
        let activated = match (self.projection, self.train) {
            (false, _) => unused(),
            (true, true) => Shape::from([self.rows(), d * h]),
            (true, false) => self.state(h),
        };
        [
            self.sequence(d * hout),
            self.state(hout),
            self.state(h),
            kept(d * 4 * h),
            kept(d * h),
            kept(d * hout),
            activated,
        ]
    }

    /// The shapes of [`LstmRecurrenceBackend::lstm_recurrence_backward`]'s results.
    fn backward_shapes(&self) -> [Shape; 4] {
        let (d, h, hout) = (self.directions, self.hidden, self.hidden_out);
        [
            Shape::from([self.rows(), d * 4 * h]),
            self.state(hout),
            self.state(h),
            match self.projection {
                true => Shape::from([self.rows(), d * hout]),
                false => Shape::from([1]),
            },
        ]
    }
}

fn forward_specs(gates_x: &TensorSpec, call: &RecurrenceCall) -> [TensorSpec; 7] {
    call.forward_shapes()
        .map(|shape| TensorSpec::new(shape, gates_x.dtype))
}

#[allow(clippy::too_many_arguments)]
fn forward_meta(
    gates_x: &TensorSpec,
    _recurrent: &TensorSpec,
    _projection: &TensorSpec,
    _hidden: &TensorSpec,
    _cell: &TensorSpec,
    _mask: &TensorSpec,
    _lengths: &TensorSpec,
    call: &RecurrenceCall,
) -> (
    TensorSpec,
    TensorSpec,
    TensorSpec,
    TensorSpec,
    TensorSpec,
    TensorSpec,
    TensorSpec,
) {
    let [output, hidden, cell, gates, cells, entered, activated] = forward_specs(gates_x, call);
    (output, hidden, cell, gates, cells, entered, activated)
}

#[allow(clippy::too_many_arguments)]
fn backward_meta(
    gates: &TensorSpec,
    _cells: &TensorSpec,
    _cell0: &TensorSpec,
    _recurrent: &TensorSpec,
    _projection: &TensorSpec,
    _mask: &TensorSpec,
    _lengths: &TensorSpec,
    _grad_output: &TensorSpec,
    _grad_hidden: &TensorSpec,
    _grad_cell: &TensorSpec,
    call: &RecurrenceCall,
) -> (TensorSpec, TensorSpec, TensorSpec, TensorSpec) {
    let [a, b, c, d] = call
        .backward_shapes()
        .map(|shape| TensorSpec::new(shape, gates.dtype));
    (a, b, c, d)
}

/// The two recurrence kernels as a backend extension of burn's CubeCL backend.
#[backend_extension(Cube: cfg(feature = "cube"), Fusion: cfg(feature = "cube"))]
pub trait LstmRecurrenceBackend: Backend {
    /// The recurrence over every step of every direction (see [`super::kernels`] for the
    /// layouts), from the input projection `gates_x` `[rows, D·4H]`.
    ///
    /// Returns the output (sequence layout), the final hidden and cell states, and with
    /// `call.train` the activated gates, the cell states, the hidden states that entered the
    /// products and (LSTMP) `o·tanh(c)` at every step.
    #[fusion(meta = forward_meta)]
    #[allow(clippy::too_many_arguments, clippy::type_complexity)]
    fn lstm_recurrence(
        gates_x: FloatTensor<Self>,
        recurrent_weights: FloatTensor<Self>,
        projection: FloatTensor<Self>,
        hidden: FloatTensor<Self>,
        cell: FloatTensor<Self>,
        recurrent_mask: FloatTensor<Self>,
        lengths: FloatTensor<Self>,
        call: RecurrenceCall,
    ) -> (
        FloatTensor<Self>,
        FloatTensor<Self>,
        FloatTensor<Self>,
        FloatTensor<Self>,
        FloatTensor<Self>,
        FloatTensor<Self>,
        FloatTensor<Self>,
    );

    /// The gates' pre-activation gradient at every step `[rows, D·4H]`, the initial hidden
    /// and cell states' gradients, and (LSTMP) the hidden state's gradient at every step.
    /// `recurrent_transposed` is `W_hᵀ`, `[D·4H, Hout]`: each unit then reads a column of it
    /// that neighbouring units read beside.
    #[fusion(meta = backward_meta)]
    #[allow(clippy::too_many_arguments)]
    fn lstm_recurrence_backward(
        gates: FloatTensor<Self>,
        cells: FloatTensor<Self>,
        cell0: FloatTensor<Self>,
        recurrent_transposed: FloatTensor<Self>,
        projection: FloatTensor<Self>,
        recurrent_mask: FloatTensor<Self>,
        lengths: FloatTensor<Self>,
        grad_output: FloatTensor<Self>,
        grad_hidden: FloatTensor<Self>,
        grad_cell: FloatTensor<Self>,
        call: RecurrenceCall,
    ) -> (
        FloatTensor<Self>,
        FloatTensor<Self>,
        FloatTensor<Self>,
        FloatTensor<Self>,
    );
}

/// Batch rows a cube runs: up to [`ROWS_PER_CUBE`], as many as shared memory holds staged
/// hidden states for, no more than the batch.
fn rows_per_cube(call: &RecurrenceCall) -> usize {
    (MAX_STAGED / call.hidden_out.max(1))
        .clamp(1, ROWS_PER_CUBE)
        .min(call.batch.max(1))
}

/// One cube per block of batch rows and direction; its units share out the hidden units.
fn launch_shape(tensor: &CubeTensor, call: &RecurrenceCall) -> (CubeCount, CubeDim) {
    let widest = call.hidden.max(call.hidden_out) as u32;
    let limit = tensor.client.properties().hardware.max_cube_dim.0.min(256);
    let units = widest.next_power_of_two().clamp(32, limit.max(1));
    let blocks = call.batch.div_ceil(rows_per_cube(call));
    (
        CubeCount::Static(blocks as u32, call.directions as u32, 1),
        CubeDim::new_1d(units),
    )
}

/// A kernel operand, made contiguous first (the kernels index rows by their widths).
fn operand(tensor: CubeTensor) -> TensorArg {
    into_contiguous(tensor).into_tensor_arg()
}

fn sizes(call: &RecurrenceCall) -> SizesLaunch {
    SizesLaunch::new(
        call.steps as u32,
        call.batch as u32,
        call.hidden as u32,
        call.hidden_out as u32,
        call.batch_first as u32,
    )
}

impl LstmRecurrenceBackend for CubeBackend {
    fn lstm_recurrence(
        gates_x: CubeTensor,
        recurrent_weights: CubeTensor,
        projection: CubeTensor,
        hidden: CubeTensor,
        cell: CubeTensor,
        recurrent_mask: CubeTensor,
        lengths: CubeTensor,
        call: RecurrenceCall,
    ) -> (
        CubeTensor,
        CubeTensor,
        CubeTensor,
        CubeTensor,
        CubeTensor,
        CubeTensor,
        CubeTensor,
    ) {
        let dtype = gates_x.dtype;
        let (client, device) = (gates_x.client.clone(), gates_x.device.clone());
        let [output, hidden_n, cell_n, gates, cells, entered, activated] = call
            .forward_shapes()
            .map(|shape| empty_device_dtype(client.clone(), device.clone(), shape, dtype));
        let (count, dim) = launch_shape(&gates_x, &call);
        KERNEL_LAUNCHES.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        // SAFETY: every index the kernel forms is in bounds for the shapes made here and in
        // `forward` (rows < T·N, columns < their widths), checked by the golden and
        // kernel-versus-composed tests; unchecked launches skip a bounds test per access.
        unsafe {
            lstm_forward_kernel::launch_unchecked(
                &client,
                count,
                dim,
                operand(gates_x),
                operand(recurrent_weights),
                operand(projection),
                operand(hidden),
                operand(cell),
                operand(recurrent_mask),
                operand(lengths),
                output.clone().into_tensor_arg(),
                hidden_n.clone().into_tensor_arg(),
                cell_n.clone().into_tensor_arg(),
                gates.clone().into_tensor_arg(),
                cells.clone().into_tensor_arg(),
                entered.clone().into_tensor_arg(),
                activated.clone().into_tensor_arg(),
                sizes(&call),
                rows_per_cube(&call),
                rows_per_cube(&call) * call.hidden_out,
                call.train,
                call.projection,
                call.recurrent_mask,
                burn::backend::cubecl::dtype_to_storage_type(dtype),
            );
        }
        (output, hidden_n, cell_n, gates, cells, entered, activated)
    }

    fn lstm_recurrence_backward(
        gates: CubeTensor,
        cells: CubeTensor,
        cell0: CubeTensor,
        recurrent_transposed: CubeTensor,
        projection: CubeTensor,
        recurrent_mask: CubeTensor,
        lengths: CubeTensor,
        grad_output: CubeTensor,
        grad_hidden: CubeTensor,
        grad_cell: CubeTensor,
        call: RecurrenceCall,
    ) -> (CubeTensor, CubeTensor, CubeTensor, CubeTensor) {
        let dtype = gates.dtype;
        let (client, device) = (gates.client.clone(), gates.device.clone());
        let [grad_gates, grad_hidden0, grad_cell0, grad_hidden_seq] = call
            .backward_shapes()
            .map(|shape| empty_device_dtype(client.clone(), device.clone(), shape, dtype));
        let (count, dim) = launch_shape(&gates, &call);
        KERNEL_LAUNCHES.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        // SAFETY: as in the forward launch.
        unsafe {
            lstm_backward_kernel::launch_unchecked(
                &client,
                count,
                dim,
                operand(gates),
                operand(cells),
                operand(cell0),
                operand(recurrent_transposed),
                operand(projection),
                operand(recurrent_mask),
                operand(lengths),
                operand(grad_output),
                operand(grad_hidden),
                operand(grad_cell),
                grad_gates.clone().into_tensor_arg(),
                grad_hidden0.clone().into_tensor_arg(),
                grad_cell0.clone().into_tensor_arg(),
                grad_hidden_seq.clone().into_tensor_arg(),
                sizes(&call),
                rows_per_cube(&call),
                call.projection,
                call.recurrent_mask,
                call.output_gradient,
                call.cell_gradient,
                burn::backend::cubecl::dtype_to_storage_type(dtype),
            );
        }
        (grad_gates, grad_hidden0, grad_cell0, grad_hidden_seq)
    }
}

/// A one-element stand-in for an absent operand.
fn stand_in(like: &FloatTensor<Cube>) -> FloatTensor<Cube> {
    Cube::float_zeros(Shape::from([1]), &like.device(), like.dtype().into())
}

/// `[N]` real steps per row, as the kernels read them.
fn lengths(call: &LayerCall, dims: &LayerDims, like: &FloatTensor<Cube>) -> FloatTensor<Cube> {
    let lengths: Vec<f32> = match &call.lengths {
        Some(lengths) => lengths.iter().map(|&length| length as f32).collect(),
        None => vec![dims.steps as f32; dims.batch],
    };
    let data = TensorData::new(lengths, [dims.batch]).convert_dtype(like.dtype());
    Cube::float_from_data(data, &like.device())
}

/// `x·W_x + b` for every step of both directions: `[rows, D·4H]`.
fn input_projection(tensors: &LayerPrimitives<'_, Cube>, dims: &LayerDims) -> FloatTensor<Cube> {
    let rows = dims.steps * dims.batch;
    let input = Cube::float_reshape(tensors.input.clone(), Shape::from([rows, dims.features]));
    let gates = Cube::float_matmul(input, tensors.input_weights.clone());
    match tensors.bias {
        Some(bias) => {
            let bias = Cube::float_reshape(bias.clone(), Shape::from([1, bias.shape()[0]]));
            Cube::float_add(gates, bias)
        }
        None => gates,
    }
}

/// What the backward pass needs from a training forward pass on the device.
#[derive(Debug)]
pub(crate) struct CubeSaved {
    dims: LayerDims,
    call: RecurrenceCall,
    /// `[T, N, F]` (call layout), kept when the input weights want a gradient.
    input: Option<FloatTensor<Cube>>,
    input_weights: FloatTensor<Cube>,
    recurrent_weights: FloatTensor<Cube>,
    projection: FloatTensor<Cube>,
    cell: FloatTensor<Cube>,
    recurrent_mask: FloatTensor<Cube>,
    lengths: FloatTensor<Cube>,
    gates: FloatTensor<Cube>,
    cells: FloatTensor<Cube>,
    entered: FloatTensor<Cube>,
    activated: FloatTensor<Cube>,
}

/// Runs the layer on the device; with `train`, also what its backward needs.
fn forward(
    tensors: LayerPrimitives<'_, Cube>,
    call: &LayerCall,
    train: bool,
    keep_input: bool,
) -> (LayerResults<Cube>, Option<CubeSaved>) {
    crate::fused::LAYER_CALLS.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let dims = tensors.dims(call);
    let recurrence = RecurrenceCall::new(&dims, call, train);
    let gates_x = input_projection(&tensors, &dims);
    let absent = stand_in(tensors.input);
    let or_absent = |tensor: Option<&FloatTensor<Cube>>| tensor.cloned().unwrap_or(absent.clone());
    let projection = or_absent(tensors.projection);
    let recurrent_mask = or_absent(tensors.recurrent_mask);
    let lengths = lengths(call, &dims, tensors.input);
    let (output, hidden, cell, gates, cells, entered, activated) = Cube::lstm_recurrence(
        gates_x,
        tensors.recurrent_weights.clone(),
        projection.clone(),
        tensors.hidden.clone(),
        tensors.cell.clone(),
        recurrent_mask.clone(),
        lengths.clone(),
        recurrence,
    );
    let saved = train.then(|| CubeSaved {
        dims,
        call: recurrence,
        input: keep_input.then(|| tensors.input.clone()),
        input_weights: tensors.input_weights.clone(),
        recurrent_weights: tensors.recurrent_weights.clone(),
        projection,
        cell: tensors.cell.clone(),
        recurrent_mask,
        lengths,
        gates,
        cells,
        entered,
        activated,
    });
    ((output, hidden, cell), saved)
}

/// `Σ_rows a[row, d, ·]ᵀ · b[row, d, ·]` for each direction `d`: `[D, a_width, b_width]`,
/// from `a` `[rows, D·a_width]` and `b` `[rows, D·b_width]`.
fn per_direction_product(
    a: FloatTensor<Cube>,
    b: FloatTensor<Cube>,
    directions: usize,
) -> FloatTensor<Cube> {
    let split = |tensor: FloatTensor<Cube>| {
        let [rows, width] = tensor.shape().dims::<2>();
        let tensor =
            Cube::float_reshape(tensor, Shape::from([rows, directions, width / directions]));
        Cube::float_swap_dims(tensor, 0, 1)
    };
    Cube::float_matmul(Cube::float_transpose(split(a)), split(b))
}

fn backward(
    saved: CubeSaved,
    results: ResultGradients<Cube>,
    wanted: Wanted,
) -> InputGradients<Cube> {
    let CubeSaved {
        dims,
        call,
        input,
        input_weights,
        recurrent_weights,
        projection,
        cell,
        recurrent_mask,
        lengths,
        gates,
        cells,
        entered,
        activated,
    } = saved;
    let rows = dims.steps * dims.batch;
    let (d, g) = (dims.directions, dims.gates());
    let absent = stand_in(&gates);
    let call = RecurrenceCall {
        output_gradient: results.output.is_some(),
        cell_gradient: results.cell.is_some(),
        ..call
    };
    let (grad_gates, grad_hidden, grad_cell, grad_hidden_seq) = Cube::lstm_recurrence_backward(
        gates,
        cells,
        cell,
        Cube::float_transpose(recurrent_weights),
        projection,
        recurrent_mask,
        lengths,
        results.output.unwrap_or(absent.clone()),
        results.hidden,
        results.cell.unwrap_or(absent),
        call,
    );
    let input_grad = wanted.input.then(|| {
        let grad = Cube::float_matmul(grad_gates.clone(), Cube::float_transpose(input_weights));
        let shape = match dims.batch_first {
            true => [dims.batch, dims.steps, dims.features],
            false => [dims.steps, dims.batch, dims.features],
        };
        Cube::float_reshape(grad, Shape::from(shape))
    });
    let input_weights_grad = input.filter(|_| wanted.input_weights).map(|input| {
        let input = Cube::float_reshape(input, Shape::from([rows, dims.features]));
        Cube::float_matmul(Cube::float_transpose(input), grad_gates.clone())
    });
    let bias_grad = wanted.bias.then(|| {
        let sum = Cube::float_sum_dim(grad_gates.clone(), 0);
        Cube::float_reshape(sum, Shape::from([d * g]))
    });
    let recurrent_grad = wanted.recurrent.then(|| {
        // [D, Hout, G] → [Hout, D, G] → [Hout, D·G]
        let grad = per_direction_product(entered, grad_gates.clone(), d);
        let grad = Cube::float_swap_dims(grad, 0, 1);
        Cube::float_reshape(grad, Shape::from([dims.hidden_out, d * g]))
    });
    let projection_grad = (wanted.projection && call.projection)
        .then(|| per_direction_product(activated, grad_hidden_seq, d));
    InputGradients::<Cube> {
        input: input_grad,
        input_weights: input_weights_grad,
        bias: bias_grad,
        recurrent: recurrent_grad,
        projection: projection_grad,
        hidden: wanted.hidden.then_some(grad_hidden),
        cell: wanted.cell.then_some(grad_cell),
    }
}

impl LayerTraining for Cube {
    type Saved = CubeSaved;

    fn forward_train(
        tensors: LayerPrimitives<'_, Self>,
        call: &LayerCall,
        keep_input: bool,
    ) -> (LayerResults<Self>, CubeSaved) {
        let (results, saved) = forward(tensors, call, true, keep_input);
        (results, saved.expect("saved in training"))
    }

    fn backward(
        saved: CubeSaved,
        results: ResultGradients<Self>,
        wanted: Wanted,
    ) -> InputGradients<Self> {
        backward(saved, results, wanted)
    }
}

impl LstmLayerBackend for Cube {
    fn lstm_layer(operands: LayerOperands<Self>) -> LayerResults<Self> {
        forward(operands.primitives(), &operands.call, false, false).0
    }
}

/// Whether the kernels run in `dtype` (f32: their sums accumulate in the operands' type).
pub(crate) fn supports(dtype: DType) -> bool {
    dtype == DType::F32
}

/// The most hidden outputs the forward kernel stages in shared memory (16 KiB of f32,
/// WebGPU's guaranteed workgroup storage), all of a cube's rows together.
pub(crate) const MAX_STAGED: usize = 4096;

/// The most batch rows a cube runs: each read of a recurrent weight serves them all (a GPU
/// reads the weights from its cache once per block of rows rather than once per row; a CPU
/// running the kernel does a quarter of the loads).
const ROWS_PER_CUBE: usize = 4;
