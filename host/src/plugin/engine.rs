//! The one wasmtime `Engine` and what every call shares: epoch ticks that enforce
//! deadlines, and a pooling allocator with a gate in front, since the pool fails rather
//! than waits when all its slots are taken.

use std::sync::{Condvar, Mutex};
use std::thread;
use std::time::Duration;

use wasmtime::{Enabled, Engine, InstanceAllocationStrategy, PoolingAllocationConfig};

use super::engine_config::code_config;

/// How many tool calls may run at once; the pool has a slot for each.
pub const MAX_CONCURRENT_CALLS: u32 = 16;
/// The granularity of call deadlines.
pub const EPOCH_TICK: Duration = Duration::from_millis(10);
/// The largest linear memory a pool slot can hold; per-call caps are at most this.
pub const MAX_MEMORY_BYTES: usize = 1 << 30;

/// The most of an instance's memory (and of its tables) reset in place rather than
/// given back to the kernel after a call, when the kernel can tell which pages a call
/// dirtied.
const KEEP_RESIDENT_BYTES: usize = 2 << 20;

/// Creates the engine (the shared code settings, for this machine's CPU) and starts the
/// thread that advances its epoch. The thread ends when the engine is dropped.
pub fn new_engine() -> anyhow::Result<Engine> {
    let engine = match Engine::new(&config(true)) {
        Ok(engine) => engine,
        Err(e) => {
            tracing::debug!(
                "no PAGEMAP_SCAN, instance memory is given back after each call: {e:#}"
            );
            Engine::new(&config(false))?
        }
    };
    let weak = engine.weak();
    thread::Builder::new()
        .name("conch-epoch".into())
        .spawn(move || {
            while let Some(engine) = weak.upgrade() {
                engine.increment_epoch();
                drop(engine);
                thread::sleep(EPOCH_TICK);
            }
        })?;
    Ok(engine)
}

/// The engine's configuration; `pagemap` keeps the pages a call touched resident for
/// the next (configuring fails where the kernel lacks PAGEMAP_SCAN).
fn config(pagemap: bool) -> wasmtime::Config {
    let mut pool = PoolingAllocationConfig::default();
    pool.total_component_instances(MAX_CONCURRENT_CALLS)
        .total_core_instances(MAX_CONCURRENT_CALLS * 16)
        .total_memories(MAX_CONCURRENT_CALLS * 2)
        .total_tables(MAX_CONCURRENT_CALLS * 16)
        .max_memories_per_component(2)
        .max_memory_size(MAX_MEMORY_BYTES)
        // Calls run synchronously, on the caller's stack: no fiber stacks. The default
        // (1000 of them) mapped 2 GB and made a guard page in it per stack, a thousand
        // `mprotect`s at engine start and two thousand mappings to tear down at exit.
        .total_stacks(0);
    if pagemap {
        // A call touches the same few pages of its instance's memory every time. With
        // PAGEMAP_SCAN (Linux 6.7+) the pool finds the pages a call dirtied and copies
        // their original contents back, so the next call finds them mapped instead of
        // faulting each in again. Without it, keeping memory resident means zeroing all
        // of it per call, which was slower than the faults (BENCHMARKS.md).
        pool.pagemap_scan(Enabled::Yes)
            .linear_memory_keep_resident(KEEP_RESIDENT_BYTES)
            .table_keep_resident(KEEP_RESIDENT_BYTES);
    }
    let mut config = code_config();
    config.allocation_strategy(InstanceAllocationStrategy::Pooling(pool));
    #[cfg(target_arch = "x86_64")]
    config.with_custom_code_memory(Some(std::sync::Arc::new(super::builtin::InPlaceCode)));
    config
}

/// A counting gate in front of the pool: a call waits here for a free slot instead of
/// failing to instantiate.
#[derive(Debug)]
pub struct CallSlots {
    free: Mutex<u32>,
    released: Condvar,
}

/// A taken slot; dropping it frees the slot.
#[derive(Debug)]
pub struct CallSlot<'a>(&'a CallSlots);

impl CallSlots {
    /// A gate with `n` slots.
    pub fn new(n: u32) -> Self {
        CallSlots {
            free: Mutex::new(n),
            released: Condvar::new(),
        }
    }

    /// Waits for a free slot.
    pub fn take(&self) -> CallSlot<'_> {
        let mut free = self.free.lock().unwrap_or_else(|p| p.into_inner());
        while *free == 0 {
            free = self.released.wait(free).unwrap_or_else(|p| p.into_inner());
        }
        *free -= 1;
        CallSlot(self)
    }
}

impl Drop for CallSlot<'_> {
    fn drop(&mut self) {
        let mut free = self.0.free.lock().unwrap_or_else(|p| p.into_inner());
        *free += 1;
        self.0.released.notify_one();
    }
}
