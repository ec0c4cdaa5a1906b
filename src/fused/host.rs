//! Host-side building blocks of the fused CPU kernels: the element types with their
//! activations, matrix products through the `gemm` crate (the kernels burn-flex itself uses), and moving tensors to and from host
//! vectors.

use burn::backend::{Backend, read_sync, tensor::FloatTensor};
use burn::prelude::*;
use gemm::{Parallelism, gemm};
use num_traits::Float;

use super::fastmath;

/// The element types the fused kernels run in, with their activations: f32 uses the
/// vectorisable approximations of [`fastmath`], f64 the exact libm functions.
pub(crate) trait Elem:
    Float + burn::tensor::Element + bytemuck::Pod + Send + Sync + 'static
{
    fn sigmoid(self) -> Self;
    fn tanh_activation(self) -> Self;
    /// (The fused cross-entropy's softmax.)
    fn exp_activation(self) -> Self;
}

impl Elem for f32 {
    #[inline(always)]
    fn sigmoid(self) -> Self {
        fastmath::sigmoid_f32(self)
    }
    #[inline(always)]
    fn tanh_activation(self) -> Self {
        fastmath::tanh_f32(self)
    }
    #[inline(always)]
    fn exp_activation(self) -> Self {
        fastmath::exp_f32(self)
    }
}

impl Elem for f64 {
    #[inline(always)]
    fn sigmoid(self) -> Self {
        1.0 / (1.0 + (-self).exp())
    }
    #[inline(always)]
    fn tanh_activation(self) -> Self {
        self.tanh()
    }
    #[inline(always)]
    fn exp_activation(self) -> Self {
        self.exp()
    }
}

/// `dst[m×n] (+)= lhs[m×k] · rhs[k×n]` with explicit `(row, column)` strides. `threads` lets
/// gemm split a big product over the cores; the recurrences' per-step products run on one
/// thread each, inside their own thread team.
#[allow(clippy::too_many_arguments)]
pub(crate) fn matmul<E: Elem>(
    dst: &mut [E],
    dst_row: usize,
    accumulate: bool,
    lhs: &[E],
    (lhs_row, lhs_col): (usize, usize),
    rhs: &[E],
    (rhs_row, rhs_col): (usize, usize),
    (m, n, k): (usize, usize, usize),
    threads: bool,
) {
    if m == 0 || n == 0 {
        return;
    }
    assert!(
        dst.len() >= (m - 1) * dst_row + n,
        "matmul destination too small"
    );
    if k > 0 {
        assert!(
            lhs.len() > (m - 1) * lhs_row + (k - 1) * lhs_col,
            "matmul lhs too small"
        );
        assert!(
            rhs.len() > (k - 1) * rhs_row + (n - 1) * rhs_col,
            "matmul rhs too small"
        );
    }
    // Threads pay off only on products of some size.
    let parallelism = if threads && m * n * k >= 1 << 20 {
        Parallelism::Rayon(0)
    } else {
        Parallelism::None
    };
    // SAFETY: the asserts above keep every index the strides produce inside the slices, and
    // `dst` does not alias the inputs (it is borrowed mutably).
    unsafe {
        gemm(
            m,
            n,
            k,
            dst.as_mut_ptr(),
            1,
            dst_row as isize,
            accumulate,
            lhs.as_ptr(),
            lhs_col as isize,
            lhs_row as isize,
            rhs.as_ptr(),
            rhs_col as isize,
            rhs_row as isize,
            E::one(),
            E::one(),
            false,
            false,
            false,
            parallelism,
        );
    }
}

/// A tensor's values on the host: the CPU backend's own buffer where it can lend it (a
/// contiguous tensor on flex or ndarray: no copy), else a copy.
pub(crate) enum HostValues<E> {
    Owned(Vec<E>),
    /// A handle on the tensor (its buffer is shared, never written while held: burn copies a
    /// shared buffer before writing it).
    #[cfg(feature = "flex")]
    Flex(
        FloatTensor<burn::backend::Flex>,
        std::marker::PhantomData<E>,
    ),
    /// A handle on an ndarray tensor (its array is shared copy-on-write: burn-ndarray copies
    /// it before writing while this handle holds it).
    #[cfg(feature = "ndarray")]
    NdArray(
        FloatTensor<burn::backend::NdArray>,
        std::marker::PhantomData<E>,
    ),
}

/// A contiguous ndarray tensor's values in place, when its dtype is `E`.
#[cfg(feature = "ndarray")]
fn ndarray_slice<E: Elem>(tensor: &FloatTensor<burn::backend::NdArray>) -> Option<&[E]> {
    use burn::backend::ndarray::NdArrayTensor;
    use burn::tensor::DType;
    match tensor {
        NdArrayTensor::F32(storage) if E::dtype() == DType::F32 => storage
            .view()
            .to_slice()
            .map(bytemuck::cast_slice::<f32, E>),
        NdArrayTensor::F64(storage) if E::dtype() == DType::F64 => storage
            .view()
            .to_slice()
            .map(bytemuck::cast_slice::<f64, E>),
        _ => None,
    }
}

impl<E: Elem> std::ops::Deref for HostValues<E> {
    type Target = [E];

    fn deref(&self) -> &[E] {
        match self {
            Self::Owned(values) => values,
            #[cfg(feature = "flex")]
            Self::Flex(tensor, _) => tensor
                .as_slice::<E>()
                .expect("a contiguous tensor of this dtype (checked when made)"),
            #[cfg(feature = "ndarray")]
            Self::NdArray(tensor, _) => ndarray_slice::<E>(tensor)
                .expect("a contiguous tensor of this dtype (checked when made)"),
        }
    }
}

impl<E> From<Vec<E>> for HostValues<E> {
    fn from(values: Vec<E>) -> Self {
        Self::Owned(values)
    }
}

impl<E> std::fmt::Debug for HostValues<E> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Owned(values) => write!(f, "HostValues::Owned({} values)", values.len()),
            #[cfg(feature = "flex")]
            Self::Flex(tensor, _) => write!(f, "HostValues::Flex({:?})", tensor.layout()),
            #[cfg(feature = "ndarray")]
            Self::NdArray(..) => write!(f, "HostValues::NdArray(lent)"),
        }
    }
}

/// Reading a backend's tensors on the host (see [`HostValues`]).
pub(crate) trait HostTensors: Backend {
    /// `tensor`'s values, lent or copied.
    fn host_values<E: Elem>(tensor: &FloatTensor<Self>) -> HostValues<E> {
        HostValues::Owned(to_host::<Self, E>(tensor.clone()))
    }
}

#[cfg(feature = "flex")]
impl HostTensors for burn::backend::Flex {
    fn host_values<E: Elem>(tensor: &FloatTensor<Self>) -> HostValues<E> {
        match tensor.as_slice::<E>() {
            Some(_) => HostValues::Flex(tensor.clone(), std::marker::PhantomData),
            None => HostValues::Owned(to_host::<Self, E>(tensor.clone())),
        }
    }
}

#[cfg(feature = "ndarray")]
impl HostTensors for burn::backend::NdArray {
    fn host_values<E: Elem>(tensor: &FloatTensor<Self>) -> HostValues<E> {
        // A contiguous array is lent; a strided view is copied by burn-ndarray's conversion.
        match ndarray_slice::<E>(tensor) {
            Some(_) => HostValues::NdArray(tensor.clone(), std::marker::PhantomData),
            None => HostValues::Owned(to_host::<Self, E>(tensor.clone())),
        }
    }
}

/// A backend tensor's values on the host.
pub(crate) fn to_host<B: Backend, E: Elem>(tensor: FloatTensor<B>) -> Vec<E> {
    read_sync(B::float_into_data(tensor))
        .expect("read a CPU tensor")
        .try_into_vec::<E>()
        .expect("the tensor's dtype")
}

/// A backend tensor from host values.
pub(crate) fn from_host<B: Backend, E: Elem>(
    values: Vec<E>,
    shape: &[usize],
    device: &B::Device,
) -> FloatTensor<B> {
    B::float_from_data(TensorData::new(values, shape.to_vec()), device)
}

/// A buffer that the units of a thread team write at the same time, each only its own rows.
///
/// The team's units own disjoint rows of every buffer they share (a unit is one direction and
/// one block of batch rows), so their writes never overlap; this type lets them hold the
/// buffer at once without splitting it into chunks, which the row layouts (rows of one unit
/// recur at every time step) do not allow.
pub(crate) struct RowShared<'a, E> {
    ptr: *mut E,
    len: usize,
    _buffer: std::marker::PhantomData<&'a mut [E]>,
}

// SAFETY: the units only touch disjoint ranges (see `rows`); the buffer outlives the team.
unsafe impl<E: Send> Send for RowShared<'_, E> {}
unsafe impl<E: Send> Sync for RowShared<'_, E> {}

impl<'a, E> RowShared<'a, E> {
    pub(crate) fn new(buffer: &'a mut [E]) -> Self {
        Self {
            ptr: buffer.as_mut_ptr(),
            len: buffer.len(),
            _buffer: std::marker::PhantomData,
        }
    }

    /// `len` elements from `start`.
    ///
    /// # Safety
    /// No other unit may read or write any of these elements while the slice lives.
    #[allow(clippy::mut_from_ref)]
    pub(crate) unsafe fn rows(&self, start: usize, len: usize) -> &mut [E] {
        assert!(start + len <= self.len, "row range outside the buffer");
        // SAFETY: inside the buffer (asserted); exclusive by the caller's promise.
        unsafe { std::slice::from_raw_parts_mut(self.ptr.add(start), len) }
    }
}
