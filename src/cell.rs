//! One LSTM step: the four gates and the state update.

use burn::module::{Content, DisplaySettings, ModuleDisplay, Param};
use burn::prelude::*;

use crate::error::{LstmError, Result};
use crate::gate::{Gate, leaf_param};
use crate::init::LstmInit;
use crate::recurrence::{CellParts, JoinedWeights};
use crate::state::LstmState;

/// Configuration of an [`LstmCell`].
#[derive(Config, Debug)]
pub struct LstmCellConfig {
    /// Features of each step's input, `I`.
    pub input_size: usize,
    /// Size of the cell state, `H`.
    pub hidden_size: usize,
    /// Size of the projected hidden state of an LSTMP (`0`: no projection).
    #[config(default = 0)]
    pub proj_size: usize,
    /// Whether the gates have biases.
    #[config(default = true)]
    pub bias: bool,
    /// How the parameters start out.
    #[config(default = "LstmInit::new()")]
    pub init: LstmInit,
}

/// One LSTM step with four named gates (PyTorch's `LSTMCell`, plus an optional projection):
///
/// ```text
/// i = σ(x W_ix + h W_ih + b_i)     f = σ(x W_fx + h W_fh + b_f)
/// g = tanh(x W_gx + h W_gh + b_g)  o = σ(x W_ox + h W_oh + b_o)
/// c' = f ⊙ c + i ⊙ g               h' = (o ⊙ tanh c') [W_hr]
/// ```
///
/// The gates are separate [`Gate`] modules; a forward call joins their weights and computes
/// all four gates with one product. Joining copies the weights on every call, which matters
/// when the cell is called once per token or step with the same weights: [`LstmCell::prepared`]
/// joins them once for many calls.
#[derive(Module, Debug)]
#[module(custom_display)]
pub struct LstmCell {
    /// `i`: how much new content is written into the cell.
    pub input_gate: Gate,
    /// `f`: how much of the previous cell state is kept.
    pub forget_gate: Gate,
    /// `g`: the candidate cell content.
    pub cell_gate: Gate,
    /// `o`: how much of the cell is shown as the hidden state.
    pub output_gate: Gate,
    /// `[hidden, hidden_out]`: the LSTMP projection `W_hr` of the hidden state, if any.
    pub projection: Option<Param<Tensor<2>>>,
    /// Features of each step's input.
    pub input_size: usize,
    /// Size of the cell state.
    pub hidden_size: usize,
}

impl LstmCellConfig {
    /// Checks the sizes, then builds the cell on `device`.
    pub fn try_init(&self, device: &Device) -> Result<LstmCell> {
        if self.input_size == 0 || self.hidden_size == 0 {
            return Err(LstmError::Config(format!(
                "input_size ({}) and hidden_size ({}) must be at least 1",
                self.input_size, self.hidden_size
            )));
        }
        if self.proj_size >= self.hidden_size {
            return Err(LstmError::Config(format!(
                "proj_size ({}) must be smaller than hidden_size ({})",
                self.proj_size, self.hidden_size
            )));
        }
        Ok(self.build(device))
    }

    /// Builds the cell on `device`.
    ///
    /// # Panics
    /// On invalid sizes; [`LstmCellConfig::try_init`] returns the error instead.
    pub fn init(&self, device: &Device) -> LstmCell {
        self.try_init(device).unwrap_or_else(|err| panic!("{err}"))
    }

    fn build(&self, device: &Device) -> LstmCell {
        let hidden = self.hidden_size;
        let hidden_out = if self.proj_size > 0 {
            self.proj_size
        } else {
            hidden
        };
        let init = &self.init;
        let input_weights =
            LstmInit::draw_gate_weights(&init.input_weights, self.input_size, hidden, device);
        let recurrent_weights =
            LstmInit::draw_gate_weights(&init.recurrent_weights, hidden_out, hidden, device);
        let (input_biases, recurrent_biases) = if self.bias {
            let mut input_biases = init.draw_biases(hidden, device);
            let mut recurrent_biases = init.draw_biases(hidden, device);
            if let Some(value) = init.forget_bias {
                // Forget gate rows are H..2H in PyTorch's i, f, g, o order.
                let forget = hidden..2 * hidden;
                input_biases = input_biases.slice_fill(forget.clone(), value);
                recurrent_biases = recurrent_biases.slice_fill(forget, 0.0);
            }
            (Some(input_biases), Some(recurrent_biases))
        } else {
            (None, None)
        };
        // Gate k takes columns k*H..(k+1)*H of the joint draw, in PyTorch's i, f, g, o order.
        let gate = |k: usize| {
            let cols = k * hidden..(k + 1) * hidden;
            Gate::new(
                input_weights.clone().slice(s![.., cols.clone()]),
                recurrent_weights.clone().slice(s![.., cols.clone()]),
                input_biases.clone().map(|b| b.slice(cols.clone())),
                recurrent_biases.clone().map(|b| b.slice(cols.clone())),
            )
        };
        LstmCell {
            input_gate: gate(0),
            forget_gate: gate(1),
            cell_gate: gate(2),
            output_gate: gate(3),
            projection: (self.proj_size > 0)
                .then(|| leaf_param(init.draw_projection(hidden, self.proj_size, device))),
            input_size: self.input_size,
            hidden_size: hidden,
        }
    }
}

impl LstmCell {
    /// Size of the hidden state this cell outputs: the projection size of an LSTMP, else
    /// `hidden_size`.
    pub fn output_size(&self) -> usize {
        match &self.projection {
            Some(projection) => projection.lazy_shape().dims::<2>()[1],
            None => self.hidden_size,
        }
    }

    /// The gates in PyTorch's row order: input, forget, cell, output.
    pub fn gates(&self) -> [&Gate; 4] {
        [
            &self.input_gate,
            &self.forget_gate,
            &self.cell_gate,
            &self.output_gate,
        ]
    }

    /// One step.
    ///
    /// - `input`: `[batch, input]`
    /// - `state`: hidden `[batch, hidden_out]`, cell `[batch, hidden]`; `None` is zeros.
    ///
    /// Returns the new state; its `hidden` is the step's output.
    ///
    /// # Panics
    /// On a shape mismatch, with a message naming the expected and the actual shape;
    /// [`LstmCell::try_forward`] returns the error instead.
    pub fn forward(&self, input: Tensor<2>, state: Option<LstmState<2>>) -> LstmState<2> {
        self.try_forward(input, state)
            .unwrap_or_else(|err| panic!("{err}"))
    }

    /// [`LstmCell::forward`], with shape errors returned.
    pub fn try_forward(
        &self,
        input: Tensor<2>,
        state: Option<LstmState<2>>,
    ) -> Result<LstmState<2>> {
        self.step(&JoinedWeights::join(&[self.parts()], true), input, state)
    }

    /// The gate weights joined once, for many steps with the same weights (generation, a
    /// decoder loop): [`PreparedCell::forward`] computes what [`LstmCell::forward`] computes
    /// without joining them again.
    ///
    /// ```
    /// use burn::prelude::*;
    /// use burn_lstm::LstmCellConfig;
    ///
    /// let device = Device::flex();
    /// let cell = LstmCellConfig::new(3, 5).init(&device);
    /// let prepared = cell.prepared();
    /// let mut state = None;
    /// for _ in 0..4 {
    ///     state = Some(prepared.forward(Tensor::<2>::ones([2, 3], &device), state));
    /// }
    /// assert_eq!(state.unwrap().hidden.dims(), [2, 5]);
    /// ```
    pub fn prepared(&self) -> PreparedCell<'_> {
        PreparedCell {
            cell: self,
            weights: JoinedWeights::join(&[self.parts()], true),
        }
    }

    /// The cell's parameters, lent for joining.
    pub(crate) fn parts(&self) -> CellParts<'_> {
        CellParts {
            input_gate: &self.input_gate,
            forget_gate: &self.forget_gate,
            cell_gate: &self.cell_gate,
            output_gate: &self.output_gate,
            projection: self.projection.as_ref(),
            hidden_size: self.hidden_size,
        }
    }

    fn step(
        &self,
        weights: &JoinedWeights,
        input: Tensor<2>,
        state: Option<LstmState<2>>,
    ) -> Result<LstmState<2>> {
        let [batch, features] = input.dims();
        if features != self.input_size {
            return Err(LstmError::shape(
                "input",
                format!("[batch, {}]", self.input_size),
                &[batch, features],
            ));
        }
        let (hidden_out, hidden) = (self.output_size(), self.hidden_size);
        let state = match state {
            Some(state) => {
                check_state_part("hidden", &state.hidden.dims(), [batch, hidden_out])?;
                check_state_part("cell", &state.cell.dims(), [batch, hidden])?;
                state
            }
            None => {
                let options = (&input.device(), input.dtype());
                LstmState::from_hidden_cell(
                    Tensor::zeros([batch, hidden_out], options),
                    Tensor::zeros([batch, hidden], options),
                )
            }
        };
        let gate_inputs = weights.project_inputs(input.unsqueeze_dim::<3>(0));
        let (hidden_state, cell_state) = weights.step(
            gate_inputs.squeeze_dim(0),
            state.hidden.unsqueeze_dim(0),
            state.cell.unsqueeze_dim(0),
            None,
        );
        Ok(LstmState::from_hidden_cell(
            hidden_state.squeeze_dim(0),
            cell_state.squeeze_dim(0),
        ))
    }
}

/// An [`LstmCell`] with its gate weights joined once (see [`LstmCell::prepared`]). It borrows
/// the cell, so the weights cannot change while it lives.
pub struct PreparedCell<'a> {
    cell: &'a LstmCell,
    weights: JoinedWeights,
}

impl PreparedCell<'_> {
    /// [`LstmCell::forward`] with the joined weights.
    ///
    /// # Panics
    /// As [`LstmCell::forward`]; [`PreparedCell::try_forward`] returns the error instead.
    pub fn forward(&self, input: Tensor<2>, state: Option<LstmState<2>>) -> LstmState<2> {
        self.try_forward(input, state)
            .unwrap_or_else(|err| panic!("{err}"))
    }

    /// [`LstmCell::try_forward`] with the joined weights.
    pub fn try_forward(
        &self,
        input: Tensor<2>,
        state: Option<LstmState<2>>,
    ) -> Result<LstmState<2>> {
        self.cell.step(&self.weights, input, state)
    }
}

impl ModuleDisplay for LstmCell {
    fn custom_settings(&self) -> Option<DisplaySettings> {
        DisplaySettings::new()
            .with_new_line_after_attribute(false)
            .optional()
    }

    fn custom_content(&self, content: Content) -> Option<Content> {
        let mut content = content
            .add("input_size", &self.input_size)
            .add("hidden_size", &self.hidden_size);
        if self.projection.is_some() {
            content = content.add("proj_size", &self.output_size());
        }
        content
            .add("bias", &self.input_gate.input_bias.is_some())
            .optional()
    }
}

fn check_state_part(which: &str, actual: &[usize], expected: [usize; 2]) -> Result<()> {
    if actual != expected {
        return Err(LstmError::shape(
            format!("initial {which} state"),
            format!("{expected:?}"),
            actual,
        ));
    }
    Ok(())
}
