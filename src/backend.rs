//! Choosing a compiled-in backend by name, for the programs' `--backend` flag.

use std::fmt;
use std::str::FromStr;

use burn::prelude::*;

use crate::error::{LstmError, Result};

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
            LstmError::Config("no backend compiled in: enable `flex`, `ndarray` or `wgpu`".into())
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
            return Err(LstmError::Config(format!(
                "backend `{self}` is not compiled in (this build has: {}); rebuild with \
                 `--features {self}`",
                Self::compiled()
                    .iter()
                    .map(|b| b.name())
                    .collect::<Vec<_>>()
                    .join(", ")
            )));
        }
        match self {
            #[cfg(feature = "flex")]
            Self::Flex => Ok(Device::flex()),
            #[cfg(feature = "ndarray")]
            #[allow(deprecated)]
            Self::Ndarray => Ok(Device::ndarray()),
            #[cfg(feature = "wgpu")]
            Self::Wgpu => Ok(Device::wgpu(burn::tensor::DeviceKind::DefaultDevice)),
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
                LstmError::Config("no CPU backend compiled in: enable `flex` or `ndarray`".into())
            })
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
        LstmError::Config(format!(
            "cannot move the initial parameters to {device:?}: {err}"
        ))
    })
}
