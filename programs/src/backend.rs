//! Choosing a compiled-in backend by name, for the programs' `--backend` flag.

use std::fmt;
use std::str::FromStr;

use burn::prelude::*;

use crate::error::{Error, Result};

/// A backend this build of the crate can run on.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BackendChoice {
    /// burn-flex, the pure-Rust CPU backend (feature `flex`).
    Flex,
    /// burn-ndarray, the older CPU backend (feature `ndarray`).
    Ndarray,
    /// burn-wgpu: Vulkan, Metal, DirectX or WebGPU (feature `wgpu`).
    Wgpu,
}

impl BackendChoice {
    /// The backends compiled into this build, the default first.
    pub fn compiled() -> Vec<Self> {
        let mut compiled = Vec::new();
        if cfg!(feature = "wgpu") {
            compiled.push(Self::Wgpu);
        }
        if cfg!(feature = "flex") {
            compiled.push(Self::Flex);
        }
        if cfg!(feature = "ndarray") {
            compiled.push(Self::Ndarray);
        }
        compiled
    }

    /// The default: wgpu when built with it, else flex, else ndarray.
    pub fn default_compiled() -> Result<Self> {
        Self::compiled().first().copied().ok_or_else(|| {
            Error::Config("no backend compiled in: enable `flex`, `ndarray` or `wgpu`".into())
        })
    }

    /// The name used by `--backend` and by burn's `BURN_DEVICE` variable.
    pub fn name(self) -> &'static str {
        match self {
            Self::Flex => "flex",
            Self::Ndarray => "ndarray",
            Self::Wgpu => "wgpu",
        }
    }

    /// The backend's default device (without autodiff).
    pub fn device(self) -> Result<Device> {
        if !Self::compiled().contains(&self) {
            return Err(Error::Config(format!(
                "backend `{self}` is not compiled in (this build has: {}); rebuild with \
                 `--features {self}`",
                Self::compiled()
                    .iter()
                    .map(|b| b.name())
                    .collect::<Vec<_>>()
                    .join(", ")
            )));
        }
        if matches!(self, Self::Flex | Self::Ndarray) {
            // The fused layer's CPU kernels: a bad BURN_LSTM_KERNEL stops a program here,
            // before any work, as it would stop the layer's first call.
            burn_lstm::cpu::kernel_choice()
                .map_err(|message| Error::Layer(burn_lstm::LstmError::Kernel(message)))?;
        }
        match self {
            #[cfg(feature = "flex")]
            Self::Flex => Ok(Device::flex()),
            #[cfg(feature = "ndarray")]
            #[allow(deprecated)]
            Self::Ndarray => Ok(Device::ndarray()),
            #[cfg(feature = "wgpu")]
            Self::Wgpu => wgpu_device(),
            #[allow(unreachable_patterns)]
            _ => unreachable!("checked against the compiled backends above"),
        }
    }
}

impl fmt::Display for BackendChoice {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for BackendChoice {
    type Err = String;

    fn from_str(name: &str) -> std::result::Result<Self, String> {
        match name.to_ascii_lowercase().as_str() {
            "flex" => Ok(Self::Flex),
            "ndarray" => Ok(Self::Ndarray),
            "wgpu" => Ok(Self::Wgpu),
            other => Err(format!(
                "unknown backend `{other}` (expected flex, ndarray or wgpu)"
            )),
        }
    }
}

impl BackendChoice {
    /// The CPU backend this build has (flex, else ndarray).
    pub fn cpu() -> Result<Self> {
        [Self::Flex, Self::Ndarray]
            .into_iter()
            .find(|b| Self::compiled().contains(b))
            .ok_or_else(|| {
                Error::Config("no CPU backend compiled in: enable `flex` or `ndarray`".into())
            })
    }
}

/// The environment variable that chooses the graphics API of the wgpu backend: `vulkan` (the
/// default) or `auto` (wgpu's own choice, which may fall back to OpenGL: the only way this
/// crate ever uses wgpu's OpenGL backend).
pub const WGPU_API_VARIABLE: &str = "BURN_LSTM_WGPU_API";

/// The wgpu device, on a graphics API chosen deliberately: Vulkan where the machine has a
/// Vulkan adapter (a GPU driver, or Debian's `mesa-vulkan-drivers` for a software one), else
/// Metal or DirectX 12; never wgpu's OpenGL fallback unless asked for
/// (`BURN_LSTM_WGPU_API=auto`), since on machines without a GPU driver it has panicked and
/// then hung instead of failing.
#[cfg(feature = "wgpu")]
fn wgpu_device() -> Result<Device> {
    use burn::backend::WgpuDeviceKind;
    use burn::backend::wgpu::{WgpuBackend, WgpuDevice, wgpu};
    let api = std::env::var(WGPU_API_VARIABLE).unwrap_or_default();
    match api.to_ascii_lowercase().as_str() {
        "auto" => return Ok(Device::wgpu(burn::tensor::DeviceKind::DefaultDevice)),
        "" | "vulkan" => {}
        other => {
            return Err(Error::Config(format!(
                "{WGPU_API_VARIABLE}={other}: expected vulkan (the default) or auto"
            )));
        }
    }
    // Ask the graphics APIs other than OpenGL which adapters they have, best first.
    let preferred = [
        (wgpu::Backend::Vulkan, WgpuBackend::Vulkan),
        (wgpu::Backend::Metal, WgpuBackend::Metal),
        (wgpu::Backend::Dx12, WgpuBackend::Dx12),
    ];
    let apis = wgpu::Backends::VULKAN | wgpu::Backends::METAL | wgpu::Backends::DX12;
    let found: Vec<wgpu::Backend> = {
        let instance = wgpu::Instance::new(wgpu::InstanceDescriptor {
            backends: apis,
            ..wgpu::InstanceDescriptor::new_without_display_handle()
        });
        block_on(instance.enumerate_adapters(apis))
            .iter()
            .map(|adapter| adapter.get_info().backend)
            .collect()
    };
    match preferred.iter().find(|(api, _)| found.contains(api)) {
        Some(&(_, api)) => Ok(Device::new(
            WgpuDevice::new(WgpuDeviceKind::DefaultDevice).on(api),
        )),
        None => Err(Error::Config(format!(
            "no GPU adapter found through Vulkan, Metal or DirectX 12: install the GPU's driver \
             (on Debian without a GPU, `apt install mesa-vulkan-drivers` gives a software \
             one), or use `--backend flex`; {WGPU_API_VARIABLE}=auto lets wgpu try OpenGL"
        ))),
    }
}

/// Runs a future to its end on this thread (wgpu's adapter listing is one, and answers at
/// once on native platforms).
#[cfg(feature = "wgpu")]
fn block_on<F: std::future::Future>(future: F) -> F::Output {
    let mut future = std::pin::pin!(future);
    let mut context = std::task::Context::from_waker(std::task::Waker::noop());
    loop {
        if let std::task::Poll::Ready(output) = future.as_mut().poll(&mut context) {
            return output;
        }
        std::thread::yield_now();
    }
}

/// Builds a module with `init` on `device`, its initial parameters drawn on the CPU backend
/// from `seed`: every backend then starts from the same model for the same seed (their own
/// random generators differ).
pub fn init_seeded<M: burn::module::Module>(
    seed: u64,
    device: &Device,
    init: impl Fn(&Device) -> Result<M>,
) -> Result<M> {
    let cpu = BackendChoice::cpu()?.device()?;
    cpu.seed(seed);
    // Into a record at once: burn draws some parameters lazily, and the target module's own
    // draws below must not come first.
    let drawn = init(&cpu)?.into_record();
    init(device)?.try_load_record(drawn).map_err(|err| {
        Error::Config(format!(
            "cannot move the initial parameters to {device:?}: {err}"
        ))
    })
}
