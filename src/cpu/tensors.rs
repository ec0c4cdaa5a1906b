//! A backend's tensors on the host: the CPU backends' own buffers lent where they can be (no
//! copy), else copies; and host vectors back into tensors.

// burn-ndarray is deprecated in burn 0.22 but remains a supported backend of this crate.
#![allow(deprecated)]

use burn::backend::{Backend, read_sync, tensor::FloatTensor};
use burn::prelude::*;

use super::elem::Elem;

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
