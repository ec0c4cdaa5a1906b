//! Large host buffers kept between layer calls.
//!
//! A training step of a layer makes buffers of tens of megabytes (the saved gates alone are
//! `[D, T, N, 4H]`: 26 MB for W3) and lets them go after its backward pass. The system
//! allocator hands such sizes back to the kernel and maps fresh pages for the next step, so
//! every step paid a page fault and a page clearing for each 4 KiB it touched (W3: about
//! 25 000 faults a step). Here they are kept for the next call of about the same size:
//! [`zeros`] takes one (zeroed) or makes one, and the [`Pooled`] buffer goes back on drop.
//!
//! The pool holds at most [`MAX_BUFFERS`] buffers and [`MAX_BYTES`] per element type: what a
//! few layers' steps need, not more. Buffers below [`MIN_LEN`] elements are left to the
//! allocator, which serves small sizes well. [`reused`] skips the clearing, for a caller
//! that writes every element first (the fused loss's logits, the saved buffers of a batch
//! without padding).
//!
//! What a call returns — the layer's output sequence, its gradients, the loss's gradients —
//! is pooled too: on burn-flex the buffer becomes the tensor's storage
//! ([`Pooled::into_bytes`]) and comes back when burn drops the tensor, usually within the
//! step (W3's forward: 48 000 page faults a run before, 15 500 after). A tensor read back
//! into a vector takes its buffer out of the pool for good; burn-ndarray, which keeps its
//! own arrays, gets plain vectors.

use std::any::TypeId;
use std::mem::MaybeUninit;
use std::ptr::NonNull;
use std::sync::Mutex;

use burn_std::{AccessError, AccessPolicy, AllocationController, AllocationProperty, Bytes};

use super::elem::Elem;

/// Elements below which a buffer is not pooled (256 KiB of f32).
pub(crate) const MIN_LEN: usize = 1 << 16;
/// Buffers kept per element type.
pub(crate) const MAX_BUFFERS: usize = 24;
/// Bytes kept per element type.
pub(crate) const MAX_BYTES: usize = 512 << 20;

static F32: Mutex<Vec<Vec<f32>>> = Mutex::new(Vec::new());
static F64: Mutex<Vec<Vec<f64>>> = Mutex::new(Vec::new());

/// A buffer that goes back to the pool when dropped.
#[derive(Debug)]
pub(crate) struct Pooled<E> {
    values: Vec<E>,
    /// Where it goes when dropped ([`give`] for its type; set by [`zeros`], so the type needs
    /// no bound here, nor do the structs that hold one).
    give: Option<fn(Vec<E>)>,
}

impl<E> Default for Pooled<E> {
    fn default() -> Self {
        Self {
            values: Vec::new(),
            give: None,
        }
    }
}

impl<E> std::ops::Deref for Pooled<E> {
    type Target = [E];
    fn deref(&self) -> &[E] {
        &self.values
    }
}

impl<E> std::ops::DerefMut for Pooled<E> {
    fn deref_mut(&mut self) -> &mut [E] {
        &mut self.values
    }
}

impl<E> Drop for Pooled<E> {
    fn drop(&mut self) {
        if let Some(give) = self.give {
            give(std::mem::take(&mut self.values));
        }
    }
}

/// `len` zeros: a kept buffer of about that capacity, or a new one.
pub(crate) fn zeros<E: Elem>(len: usize) -> Pooled<E> {
    pooled(len, true)
}

/// `len` values left from an earlier use (or zeros, in a new buffer): for a caller that
/// writes every element before reading any, and so need not pay for clearing tens of
/// megabytes.
pub(crate) fn reused<E: Elem>(len: usize) -> Pooled<E> {
    pooled(len, false)
}

/// A kept buffer of about `len` (cleared first with `clear`), or a new one of zeros.
fn pooled<E: Elem>(len: usize, clear: bool) -> Pooled<E> {
    let values = match (len >= MIN_LEN).then(|| take::<E>(len)).flatten() {
        Some(mut buffer) => {
            if clear {
                buffer.clear();
            }
            buffer.resize(len, E::zero());
            buffer
        }
        None => vec![E::zero(); len],
    };
    Pooled {
        values,
        give: Some(give::<E>),
    }
}

impl<E: Elem> Pooled<E> {
    /// The values as a plain vector, no longer going back to the pool.
    pub(crate) fn into_vec(mut self) -> Vec<E> {
        self.give = None;
        std::mem::take(&mut self.values)
    }

    /// The values as a tensor's storage that goes back to the pool when the tensor is
    /// dropped: a layer's outputs and gradients, which burn lets go within a step or two, so
    /// the next call finds their pages mapped (on the system allocator each call's fresh
    /// output cost a page fault and a page clearing per 4 KiB: W3's forward spent 17% of its
    /// time in page handling).
    pub(crate) fn into_bytes(self) -> Bytes {
        let len = self.values.len() * std::mem::size_of::<E>();
        // SAFETY: the controller's first `len` bytes are the vector's initialized values.
        unsafe { Bytes::from_controller(Box::new(PooledStorage(self)), len) }
    }
}

/// A [`Pooled`] buffer as the allocation behind a [`Bytes`].
struct PooledStorage<E>(Pooled<E>);

impl<E: Elem> AllocationController for PooledStorage<E> {
    fn alloc_align(&self) -> usize {
        std::mem::align_of::<E>()
    }

    fn property(&self) -> AllocationProperty {
        AllocationProperty::Other
    }

    fn memory(&self, _policy: AccessPolicy) -> Result<&[MaybeUninit<u8>], AccessError> {
        let values = &self.0.values;
        let bytes = values.capacity() * std::mem::size_of::<E>();
        // SAFETY: the vector's whole allocation, read as possibly uninitialized bytes.
        Ok(unsafe { std::slice::from_raw_parts(values.as_ptr().cast(), bytes) })
    }

    unsafe fn memory_mut(
        &mut self,
        _policy: AccessPolicy,
    ) -> Result<&mut [MaybeUninit<u8>], AccessError> {
        let values = &mut self.0.values;
        let bytes = values.capacity() * std::mem::size_of::<E>();
        // SAFETY: the vector's whole allocation; the caller writes only initialized bytes,
        // and any bit pattern is a valid `E` (`Pod`).
        Ok(unsafe { std::slice::from_raw_parts_mut(values.as_mut_ptr().cast(), bytes) })
    }

    /// Hands the allocation over (burn's conversion of a tensor into a vector, without a
    /// copy): it leaves the pool for good.
    fn try_detach(&mut self) -> Option<NonNull<u8>> {
        let values = std::mem::ManuallyDrop::new(std::mem::take(&mut self.0).into_vec());
        NonNull::new(values.as_ptr().cast_mut().cast())
    }
}

/// Runs `f` on the pool of `E`'s buffers (f32 or f64, the only `Elem`s).
fn with_pool<E: Elem, R>(f: impl FnOnce(&mut Vec<Vec<E>>) -> R) -> R {
    fn cast<A: bytemuck::Pod, B: bytemuck::Pod>(pool: &mut Vec<Vec<A>>) -> &mut Vec<Vec<B>> {
        assert_eq!(TypeId::of::<A>(), TypeId::of::<B>());
        // SAFETY: A and B are the same type (asserted).
        unsafe { &mut *(pool as *mut Vec<Vec<A>>).cast::<Vec<Vec<B>>>() }
    }
    if TypeId::of::<E>() == TypeId::of::<f32>() {
        f(cast::<f32, E>(&mut F32.lock().expect("buffer pool")))
    } else {
        f(cast::<f64, E>(&mut F64.lock().expect("buffer pool")))
    }
}

/// The smallest kept buffer that holds `len` without wasting more than its size again.
fn take<E: Elem>(len: usize) -> Option<Vec<E>> {
    with_pool::<E, _>(|pool| {
        let best = pool
            .iter()
            .enumerate()
            .filter(|(_, buffer)| buffer.capacity() >= len && buffer.capacity() <= 2 * len)
            .min_by_key(|(_, buffer)| buffer.capacity())
            .map(|(index, _)| index)?;
        Some(pool.swap_remove(best))
    })
}

/// Keeps `buffer` for a later call, the smallest kept ones giving way when the pool is full.
fn give<E: Elem>(buffer: Vec<E>) {
    if buffer.capacity() < MIN_LEN {
        return;
    }
    with_pool::<E, _>(|pool| {
        pool.push(buffer);
        pool.sort_by_key(|buffer| std::cmp::Reverse(buffer.capacity()));
        let size = std::mem::size_of::<E>();
        while pool.len() > MAX_BUFFERS
            || pool.iter().map(|b| b.capacity() * size).sum::<usize>() > MAX_BYTES
        {
            pool.pop();
        }
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn buffers_come_back_zeroed_or_as_left_and_small_ones_are_not_kept() {
        let len = MIN_LEN + 5;
        let mut first = zeros::<f64>(len);
        first.iter_mut().for_each(|v| *v = 7.0);
        let address = first.as_ptr();
        drop(first);
        // The same buffer again (nothing else in this test takes f64 buffers of this size),
        // zeroed, at a slightly smaller length.
        let again = zeros::<f64>(len - 3);
        assert_eq!(again.len(), len - 3);
        assert!(again.iter().all(|&v| v == 0.0));
        assert_eq!(again.as_ptr(), address);
        drop(again);
        // Reused as it was left, at the length asked for.
        let mut left = zeros::<f64>(len);
        left.iter_mut().for_each(|v| *v = 5.0);
        drop(left);
        let reused = reused::<f64>(len - 1);
        assert_eq!(reused.len(), len - 1);
        assert_eq!(reused.as_ptr(), address);
        assert!(reused.iter().all(|&v| v == 5.0));
        // A request far below a kept buffer's size makes a new one.
        let small = zeros::<f64>(10);
        assert_eq!(small.len(), 10);
        assert_ne!(small.as_ptr(), address);
    }
}
