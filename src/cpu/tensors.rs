//! A backend's tensors on the host: the CPU backends' own buffers lent where they can be (no
//! copy), else copies; and host vectors back into tensors.

// burn-ndarray is deprecated in burn 0.22 but remains a supported backend of this crate.
#![allow(deprecated)]

use burn::backend::{Backend, read_sync, tensor::FloatTensor};
use burn::prelude::*;

use super::elem::Elem;
use super::pool::Pooled;

/// A tensor's values on the host: the CPU backend's own buffer where it can lend it (a
/// contiguous tensor on flex or ndarray: no copy), else a copy.
pub(crate) enum HostValues<E> {
    Owned(Vec<E>),
    /// A buffer of the pool (a layer's reordered input, kept for its backward pass).
    Pooled(Pooled<E>),
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
            Self::Pooled(values) => values,
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
            Self::Pooled(values) => write!(f, "HostValues::Pooled({} values)", values.len()),
            #[cfg(feature = "flex")]
            Self::Flex(tensor, _) => write!(f, "HostValues::Flex({:?})", tensor.layout()),
            #[cfg(feature = "ndarray")]
            Self::NdArray(..) => write!(f, "HostValues::NdArray(lent)"),
        }
    }
}

/// Reading a backend's tensors on the host (see [`HostValues`]), and making them of host
/// buffers.
pub(crate) trait HostTensors: Backend {
    /// `tensor`'s values, lent or copied.
    fn host_values<E: Elem>(tensor: &FloatTensor<Self>) -> HostValues<E> {
        HostValues::Owned(to_host::<Self, E>(tensor.clone()))
    }

    /// A tensor of a pooled buffer: the buffer itself where the backend keeps any storage
    /// (it goes back to the pool with the tensor), else as a plain vector.
    fn from_pooled<E: Elem>(
        values: Pooled<E>,
        shape: &[usize],
        device: &Self::Device,
    ) -> FloatTensor<Self> {
        from_host::<Self, E>(values.into_vec(), shape, device)
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

    /// burn-flex keeps a tensor's bytes as they are given, so the pooled buffer is the
    /// tensor's storage.
    fn from_pooled<E: Elem>(
        values: Pooled<E>,
        shape: &[usize],
        device: &Self::Device,
    ) -> FloatTensor<Self> {
        let data = TensorData::from_bytes(values.into_bytes(), shape.to_vec(), E::dtype());
        tensor_of::<Self>(data, device)
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
    tensor_of::<B>(TensorData::new(values, shape.to_vec()), device)
}

fn tensor_of<B: Backend>(data: TensorData, device: &B::Device) -> FloatTensor<B> {
    B::float_from_data(data, device)
}

#[cfg(all(test, feature = "flex"))]
mod tests {
    use super::*;
    use crate::cpu::pool::{self, MIN_LEN};
    use burn::backend::Flex;

    #[test]
    fn a_pooled_buffer_is_a_flex_tensors_storage_and_comes_back_when_the_tensor_goes() {
        let device = <Flex as burn::backend::BackendTypes>::Device::default();
        // A length no other test pools.
        let len = MIN_LEN + 1234;
        let fill = |values: &mut [f64]| {
            values
                .iter_mut()
                .enumerate()
                .for_each(|(i, v)| *v = i as f64 * 0.5)
        };
        let mut values = pool::reused::<f64>(len);
        fill(&mut values);
        let address = values.as_ptr();
        let tensor = Flex::from_pooled(values, &[2, len / 2], &device);
        let lent = tensor.as_slice::<f64>().expect("contiguous f64");
        assert_eq!(lent.as_ptr(), address, "no copy");
        assert!(lent.iter().enumerate().all(|(i, &v)| v == i as f64 * 0.5));
        drop(tensor);
        assert_eq!(
            pool::reused::<f64>(len).as_ptr(),
            address,
            "back in the pool"
        );

        // Read back into a vector: the allocation is handed over, values intact.
        let mut values = pool::reused::<f64>(len);
        fill(&mut values);
        let address = values.as_ptr();
        let read = to_host::<Flex, f64>(Flex::from_pooled(values, &[len / 2, 2], &device));
        assert_eq!(read.as_ptr(), address, "handed over, not copied");
        assert_eq!(read.len(), len);
        assert!(read.iter().enumerate().all(|(i, &v)| v == i as f64 * 0.5));
    }
}
