//! The stacked, sequence-level LSTM: its configuration, and every layer over the sequence on
//! the fused or the composed path.

use burn::module::{Content, DisplaySettings, ModuleDisplay};
use burn::nn::{Dropout, DropoutConfig};
use burn::prelude::*;

use crate::cell::LstmCellConfig;
use crate::error::{LstmError, Result};
use crate::fused;
use crate::init::LstmInit;
use crate::recurrence::{JoinedWeights, step_mask};
use crate::state::LstmState;

use super::layer::LstmLayer;

/// How an [`Lstm`] computes its layers. Both ways compute the same values: the golden tests
/// hold each to PyTorch's results (1e-10 in f64), and to each other.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum Recurrence {
    /// Each layer as one fused operation with its own backward node where the backend has
    /// the kernels (flex and ndarray in f32 and f64, on the host; burn's CubeCL backend —
    /// wgpu, CUDA — in f32, as CubeCL kernels), else [`Recurrence::Composed`].
    #[default]
    Fused,
    /// Step by step in burn's tensor operations, differentiated by burn's autodiff end to end,
    /// on every backend: the reference the fused kernels are checked against.
    Composed,
}

/// Configuration of an [`Lstm`], with PyTorch's `nn.LSTM` options.
#[derive(Config, Debug)]
pub struct LstmConfig {
    /// Features of each step's input.
    pub input_size: usize,
    /// Size of the cell state of every layer.
    pub hidden_size: usize,
    /// Number of stacked layers.
    #[config(default = 1)]
    pub num_layers: usize,
    /// Whether every layer also reads the sequence backwards.
    #[config(default = false)]
    pub bidirectional: bool,
    /// Dropout probability on the outputs of every layer but the last (training only).
    #[config(default = 0.0)]
    pub dropout: f64,
    /// Dropout probability on the previous hidden state where it enters the gates
    /// (Keras's `recurrent_dropout`: one mask per sequence, training only).
    #[config(default = 0.0)]
    pub recurrent_dropout: f64,
    /// Size of the projected hidden state (LSTMP); `0` for none.
    #[config(default = 0)]
    pub proj_size: usize,
    /// Whether inputs and outputs are `[batch, seq, features]` (else `[seq, batch, features]`).
    #[config(default = true)]
    pub batch_first: bool,
    /// Whether the gates have biases.
    #[config(default = true)]
    pub bias: bool,
    /// How the parameters start out.
    #[config(default = "LstmInit::new()")]
    pub init: LstmInit,
    /// How the layers are computed (the fused kernels where the backend has them).
    #[config(default = "Recurrence::Fused")]
    pub recurrence: Recurrence,
}

/// A multi-layer, optionally bidirectional LSTM with named gates (see [`LstmCell`](crate::LstmCell)).
///
/// It computes what PyTorch's `nn.LSTM` computes, with the same state layout, and can take a
/// padded batch with per-row lengths ([`Lstm::forward_padded`]).
///
/// ```
/// use burn::prelude::*;
/// use burn_lstm::{LstmConfig, LstmState};
///
/// let device = Device::flex();
/// let lstm = LstmConfig::new(3, 8).with_num_layers(2).init(&device);
/// let input = Tensor::<3>::zeros([4, 10, 3], &device); // [batch, seq, features]
/// let (output, state): (Tensor<3>, LstmState) = lstm.forward(input, None);
/// assert_eq!(output.dims(), [4, 10, 8]);
/// assert_eq!(state.hidden.dims(), [2, 4, 8]); // [layers * directions, batch, hidden]
/// ```
#[derive(Module, Debug)]
#[module(custom_display)]
pub struct Lstm {
    /// The stacked layers, first (reading the input) to last.
    pub layers: Vec<LstmLayer>,
    /// Dropout between layers.
    pub dropout: Dropout,
    /// Dropout on the recurrent state entering the gates.
    pub recurrent_dropout: Dropout,
    /// Whether inputs and outputs are `[batch, seq, features]`.
    pub batch_first: bool,
    /// How the layers are computed.
    #[module(skip)]
    pub recurrence: Recurrence,
}

impl LstmConfig {
    /// Checks the configuration, then builds the LSTM on `device`.
    pub fn try_init(&self, device: &Device) -> Result<Lstm> {
        if self.num_layers == 0 {
            return Err(LstmError::Config("num_layers must be at least 1".into()));
        }
        for (name, value) in [
            ("dropout", self.dropout),
            ("recurrent_dropout", self.recurrent_dropout),
        ] {
            if !(0.0..1.0).contains(&value) {
                return Err(LstmError::Config(format!(
                    "{name} must be in [0, 1), got {value}"
                )));
            }
        }
        // PyTorch warns of the same: the dropout acts between layers, so one layer has none.
        if self.num_layers == 1 && self.dropout > 0.0 {
            return Err(LstmError::Config(format!(
                "dropout ({}) acts between stacked layers and a one-layer LSTM has none: use \
                 num_layers ≥ 2, or dropout 0 (recurrent_dropout acts inside a layer)",
                self.dropout
            )));
        }
        let directions = if self.bidirectional { 2 } else { 1 };
        let hidden_out = if self.proj_size > 0 {
            self.proj_size
        } else {
            self.hidden_size
        };
        let mut layers = Vec::with_capacity(self.num_layers);
        for layer in 0..self.num_layers {
            let input_size = if layer == 0 {
                self.input_size
            } else {
                directions * hidden_out
            };
            let cell = LstmCellConfig::new(input_size, self.hidden_size)
                .with_proj_size(self.proj_size)
                .with_bias(self.bias)
                .with_init(self.init.clone());
            layers.push(LstmLayer {
                forward_cell: cell.try_init(device)?,
                reverse_cell: match self.bidirectional {
                    true => Some(cell.try_init(device)?),
                    false => None,
                },
            });
        }
        Ok(Lstm {
            layers,
            dropout: DropoutConfig::new(self.dropout).init(),
            recurrent_dropout: DropoutConfig::new(self.recurrent_dropout).init(),
            batch_first: self.batch_first,
            recurrence: self.recurrence,
        })
    }

    /// Builds the LSTM on `device`.
    ///
    /// # Panics
    /// On an invalid configuration; [`LstmConfig::try_init`] returns the error instead.
    pub fn init(&self, device: &Device) -> Lstm {
        self.try_init(device).unwrap_or_else(|err| panic!("{err}"))
    }
}

impl ModuleDisplay for Lstm {
    fn custom_settings(&self) -> Option<DisplaySettings> {
        DisplaySettings::new()
            .with_new_line_after_attribute(false)
            .optional()
    }

    fn custom_content(&self, content: Content) -> Option<Content> {
        let cell = &self.layers[0].forward_cell;
        let mut content = content
            .add("input_size", &self.input_size())
            .add("hidden_size", &self.hidden_size())
            .add("num_layers", &self.num_layers())
            .add("bidirectional", &(self.num_directions() == 2));
        if cell.projection.is_some() {
            content = content.add("proj_size", &self.hidden_out());
        }
        content
            .add("bias", &cell.input_gate.input_bias.is_some())
            .add("dropout", &self.dropout.prob)
            .add("recurrent_dropout", &self.recurrent_dropout.prob)
            .add("batch_first", &self.batch_first)
            .add_debug_attribute("recurrence", &self.recurrence)
            .optional()
    }
}

impl Lstm {
    /// The rows of `state` that belong to layer `layer` (from 0): hidden
    /// `[directions, batch, hidden_out]`, cell `[directions, batch, hidden]`.
    ///
    /// # Panics
    /// If `layer` is not a layer of this LSTM.
    pub fn layer_state(&self, state: &LstmState, layer: usize) -> LstmState {
        assert!(
            layer < self.num_layers(),
            "layer {layer} of an LSTM of {} layers",
            self.num_layers()
        );
        let rows = layer * self.num_directions()..(layer + 1) * self.num_directions();
        LstmState {
            hidden: state.hidden.clone().slice(s![rows.clone()]),
            cell: state.cell.clone().slice(s![rows]),
        }
    }

    /// The last layer's final hidden state, its directions side by side: `[batch,
    /// directions · hidden_out]` (forward first). For a bidirectional LSTM the forward half is
    /// its state after the last step and the reverse half after the first: what a read-out of a
    /// whole sequence usually takes.
    pub fn final_output(&self, state: &LstmState) -> Tensor<2> {
        let last = self.layer_state(state, self.num_layers() - 1).hidden;
        let [directions, batch, hidden_out] = last.dims();
        last.swap_dims(0, 1)
            .reshape([batch, directions * hidden_out])
    }

    /// The same LSTM, computing its layers the given way (see [`Recurrence`]).
    pub fn with_recurrence(mut self, recurrence: Recurrence) -> Self {
        self.recurrence = recurrence;
        self
    }

    /// Features of each step's input.
    pub fn input_size(&self) -> usize {
        self.layers[0].forward_cell.input_size
    }

    /// Size of every layer's cell state.
    pub fn hidden_size(&self) -> usize {
        self.layers[0].forward_cell.hidden_size
    }

    /// Size of every layer's hidden state per direction (the projection size of an LSTMP).
    pub fn hidden_out(&self) -> usize {
        self.layers[0].forward_cell.output_size()
    }

    /// Number of stacked layers.
    pub fn num_layers(&self) -> usize {
        self.layers.len()
    }

    /// 2 for a bidirectional LSTM, else 1.
    pub fn num_directions(&self) -> usize {
        self.layers[0].cells().len()
    }

    /// Features of each step's output: `num_directions * hidden_out`.
    pub fn output_size(&self) -> usize {
        self.num_directions() * self.hidden_out()
    }

    /// Runs the whole sequence.
    ///
    /// - `input`: `[batch, seq, input]` (`[seq, batch, input]` without `batch_first`)
    /// - `state`: hidden `[layers · directions, batch, hidden_out]`, cell
    ///   `[layers · directions, batch, hidden]`; `None` starts from zeros.
    ///
    /// Returns the last layer's output at every step, `[batch, seq, directions · hidden_out]`
    /// (forward half first), and the final state of every layer and direction.
    ///
    /// # Panics
    /// On a shape mismatch, with a message naming the expected and the actual shape;
    /// [`Lstm::try_forward`] returns the error instead.
    pub fn forward(&self, input: Tensor<3>, state: Option<LstmState>) -> (Tensor<3>, LstmState) {
        self.try_forward(input, state)
            .unwrap_or_else(|err| panic!("{err}"))
    }

    /// [`Lstm::forward`], with shape errors returned.
    pub fn try_forward(
        &self,
        input: Tensor<3>,
        state: Option<LstmState>,
    ) -> Result<(Tensor<3>, LstmState)> {
        self.run(input, None, state, None)
    }

    /// Runs a padded batch whose rows have their own lengths (in any order).
    ///
    /// - `input`: as for [`Lstm::forward`]; steps at and after a row's length are padding.
    /// - `lengths`: `[batch]` real steps per row, each in `1..=seq`.
    ///
    /// Padding steps leave the row's state unchanged and output zeros, so the final state is
    /// the state after the row's last real step, and the reverse direction starts there. This
    /// matches PyTorch's `pack_padded_sequence` → `nn.LSTM` → `pad_packed_sequence`.
    ///
    /// # Panics
    /// On bad shapes or lengths; [`Lstm::try_forward_padded`] returns the error instead.
    pub fn forward_padded(
        &self,
        input: Tensor<3>,
        lengths: &[usize],
        state: Option<LstmState>,
    ) -> (Tensor<3>, LstmState) {
        self.try_forward_padded(input, lengths, state)
            .unwrap_or_else(|err| panic!("{err}"))
    }

    /// [`Lstm::forward_padded`], with errors returned.
    pub fn try_forward_padded(
        &self,
        input: Tensor<3>,
        lengths: &[usize],
        state: Option<LstmState>,
    ) -> Result<(Tensor<3>, LstmState)> {
        self.run(input, Some(lengths), state, None)
    }

    pub(super) fn uses_fused(&self, device: &Device, dtype: burn::tensor::DType) -> bool {
        self.recurrence == Recurrence::Fused && fused::supported(device, dtype)
    }

    /// Every layer over the sequence: checks, the initial state, the path (fused or
    /// composed), then the layers one after the other.
    pub(super) fn run(
        &self,
        input: Tensor<3>,
        lengths: Option<&[usize]>,
        state: Option<LstmState>,
        prepared: Option<Prepared<'_>>,
    ) -> Result<(Tensor<3>, LstmState)> {
        let [batch, seq] = self.check_input(&input.dims())?;
        let (device, dtype) = (input.device(), input.dtype());
        let (hidden, cell) = self.initial_state(state, batch, (&device, dtype))?;
        let plan = self.plan(lengths, batch, seq, (&device, dtype))?;
        let prepared = prepared.filter(|prepared| prepared.fused == plan.fused);
        // The fused kernels read and write either layout; the composed path works time-major.
        let mut sequence = if plan.swap {
            input.swap_dims(0, 1)
        } else {
            input
        };
        let mut final_hidden = Vec::with_capacity(self.num_layers());
        let mut final_cell = Vec::with_capacity(self.num_layers());
        let directions = self.num_directions();
        for (index, layer) in self.layers.iter().enumerate() {
            if index > 0 {
                sequence = self.dropout_between_layers(sequence, plan.swap);
            }
            let rows = index * directions..(index + 1) * directions;
            let layer_state = LstmState::from_hidden_cell(
                hidden.clone().slice(s![rows.clone()]),
                cell.clone().slice(s![rows]),
            );
            // The joined weights are moved into the fused operation, which lets them go as
            // soon as it has packed them.
            let weights = match prepared {
                Some(prepared) => prepared.layers[index].clone(),
                None => JoinedWeights::join(&layer.parts(), !plan.fused),
            };
            let (output, layer_hidden, layer_cell) =
                self.run_layer(weights, sequence, layer_state, &plan);
            sequence = output;
            final_hidden.push(layer_hidden);
            final_cell.push(layer_cell);
        }
        let output = match plan.swap {
            true => sequence.swap_dims(0, 1),
            false => sequence,
        };
        let state =
            LstmState::from_hidden_cell(Tensor::cat(final_hidden, 0), Tensor::cat(final_cell, 0));
        Ok((output, state))
    }

    /// `[batch, seq]` of an input of the right shape.
    fn check_input(&self, dims: &[usize; 3]) -> Result<[usize; 2]> {
        let [batch, seq] = match self.batch_first {
            true => [dims[0], dims[1]],
            false => [dims[1], dims[0]],
        };
        if dims[2] == self.input_size() && batch > 0 && seq > 0 {
            return Ok([batch, seq]);
        }
        let layout = match self.batch_first {
            true => "[batch, seq, {}]",
            false => "[seq, batch, {}]",
        };
        let expected = layout.replace("{}", &self.input_size().to_string());
        let note = match dims[2] == self.input_size() {
            true => " with batch and seq at least 1",
            false => "",
        };
        Err(LstmError::shape("input", format!("{expected}{note}"), dims))
    }

    /// The caller's initial state, checked, or zeros: `(hidden, cell)`.
    fn initial_state(
        &self,
        state: Option<LstmState>,
        batch: usize,
        options: (&Device, burn::tensor::DType),
    ) -> Result<(Tensor<3>, Tensor<3>)> {
        let rows = self.num_layers() * self.num_directions();
        let expected_hidden = [rows, batch, self.hidden_out()];
        let expected_cell = [rows, batch, self.hidden_size()];
        let Some(state) = state else {
            return Ok((
                Tensor::zeros(expected_hidden, options),
                Tensor::zeros(expected_cell, options),
            ));
        };
        if state.hidden.dims() != expected_hidden {
            return Err(LstmError::shape(
                "initial hidden state",
                format!("{expected_hidden:?} ([layers * directions, batch, hidden_out])"),
                &state.hidden.dims(),
            ));
        }
        if state.cell.dims() != expected_cell {
            return Err(LstmError::shape(
                "initial cell state",
                format!("{expected_cell:?} ([layers * directions, batch, hidden_size])"),
                &state.cell.dims(),
            ));
        }
        Ok((state.hidden, state.cell))
    }

    /// How this call runs: fused or composed, and the padding each path needs.
    fn plan<'a>(
        &self,
        lengths: Option<&'a [usize]>,
        batch: usize,
        seq: usize,
        (device, dtype): (&Device, burn::tensor::DType),
    ) -> Result<CallPlan<'a>> {
        let padded = match lengths {
            Some(lengths) => {
                check_lengths(lengths, batch, seq)?;
                // Full-length rows need no padding mask: skip its cost.
                lengths.iter().any(|&len| len < seq).then_some(lengths)
            }
            None => None,
        };
        let fused = self.uses_fused(device, dtype) && fused::fits(device, batch, self.hidden_out());
        if fused && fused::on_host(device, dtype) {
            // A forced kernel that cannot serve is the caller's error, before any work.
            crate::cpu::kernel_choice().map_err(LstmError::Kernel)?;
            fused::host::input_projection_choice().map_err(LstmError::Kernel)?;
            fused::host::thread_split_choice().map_err(LstmError::Kernel)?;
        }
        let directions = self.num_directions();
        let mask = match (padded, fused) {
            (Some(lengths), false) => Some(step_mask(lengths, seq, directions, (device, dtype))),
            _ => None,
        };
        Ok(CallPlan {
            batch,
            fused,
            padded,
            mask,
            swap: self.batch_first && !fused,
        })
    }

    /// Dropout on a layer's output before the next layer, drawn in the caller's layout so that
    /// both paths drop the same elements.
    fn dropout_between_layers(&self, sequence: Tensor<3>, swapped: bool) -> Tensor<3> {
        match swapped {
            true => self
                .dropout
                .forward(sequence.swap_dims(0, 1))
                .swap_dims(0, 1),
            false => self.dropout.forward(sequence),
        }
    }

    /// One layer over the sequence from `state`: its output and final hidden and cell states.
    fn run_layer(
        &self,
        weights: JoinedWeights,
        sequence: Tensor<3>,
        state: LstmState,
        plan: &CallPlan<'_>,
    ) -> (Tensor<3>, Tensor<3>, Tensor<3>) {
        // One recurrent dropout mask per sequence, drawn as burn's `Dropout` draws; evaluation
        // has none.
        let dropout = &self.recurrent_dropout;
        let device = sequence.device();
        let recurrent_mask = (dropout.prob > 0.0
            && dropout.training.is_enabled()
            && device.is_autodiff())
        .then(|| {
            let shape = [self.num_directions(), plan.batch, self.hidden_out()];
            dropout.forward(Tensor::ones(shape, (&device, sequence.dtype())))
        });
        let LstmState { hidden, cell } = state;
        match plan.fused {
            true => weights.run_fused(
                sequence,
                hidden,
                cell,
                plan.padded,
                recurrent_mask,
                self.batch_first,
            ),
            false => weights.run(
                sequence,
                hidden,
                cell,
                plan.mask.as_ref(),
                recurrent_mask.as_ref(),
            ),
        }
    }
}

/// Joined gate weights a call may use instead of joining its own (see
/// [`PreparedLstm`](super::PreparedLstm)).
#[derive(Clone, Copy)]
pub(super) struct Prepared<'a> {
    /// Whether they were joined for the fused kernels (else for the composed path).
    pub fused: bool,
    /// Each layer's.
    pub layers: &'a [JoinedWeights],
}

/// How a call of [`Lstm`] runs (see `Lstm::plan`).
struct CallPlan<'a> {
    batch: usize,
    /// The fused operation, or burn's operations step by step.
    fused: bool,
    /// The rows' lengths, when some row is shorter than the sequence.
    padded: Option<&'a [usize]>,
    /// The composed path's padding mask (see `step_mask`).
    mask: Option<Tensor<4>>,
    /// Whether a batch-first sequence is turned time-major (the composed path's layout).
    swap: bool,
}

fn check_lengths(lengths: &[usize], batch: usize, seq: usize) -> Result<()> {
    if lengths.len() != batch {
        return Err(LstmError::Lengths(format!(
            "expected one length per batch row ({batch}), got {}",
            lengths.len()
        )));
    }
    if let Some((row, &len)) = lengths
        .iter()
        .enumerate()
        .find(|&(_, &len)| len == 0 || len > seq)
    {
        return Err(LstmError::Lengths(format!(
            "row {row} has length {len}; every length must be in 1..={seq} (the sequence length)"
        )));
    }
    Ok(())
}
