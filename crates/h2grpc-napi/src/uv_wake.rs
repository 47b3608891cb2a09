//! The I/O thread's wake-up of the JS thread, as a bare libuv `uv_async_t`
//! (Unix; Windows keeps N-API's threadsafe function, see `lib.rs`).
//!
//! Node's threadsafe function sends its `uv_async_send` while holding the
//! function's queue mutex, and the JS thread takes that same mutex as soon
//! as it wakes: with one in flight the two threads met on that lock on most
//! RPCs (a futex wait and wake, two more context switches on a 2-core
//! machine, measured with strace and `perf sched`). `uv_async_send` alone is
//! lock-free (an atomic flag and an eventfd write), and several sends before
//! the callback runs still make one callback, which is all the completion
//! queue needs: it drains everything at once.
//!
//! The handle lives on the JS thread's loop. The I/O thread only sends, and
//! only while the handle is open: `close` (the transport's finalizer, or the
//! environment's cleanup hook, whichever comes first) takes the same small
//! lock the sender holds while sending, so no send can reach a closed handle.

use std::ffi::{c_int, c_void};
use std::ptr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

use h2core::Wake;
use napi::sys;

/// Room for libuv's `uv_async_t` (128 bytes on 64-bit Linux and macOS); libuv
/// writes only its own fields, the rest stays zero.
#[repr(C, align(16))]
struct UvAsync {
    /// `uv_handle_t.data`, libuv's first field, kept for the user.
    data: *mut c_void,
    _rest: [u8; 248],
}

type AsyncCb = unsafe extern "C" fn(*mut UvAsync);
type CloseCb = unsafe extern "C" fn(*mut UvAsync);

extern "C" {
    // Exported by the node executable, as N-API's functions are.
    fn uv_async_init(lp: *mut sys::uv_loop_s, handle: *mut UvAsync, cb: AsyncCb) -> c_int;
    fn uv_async_send(handle: *mut UvAsync) -> c_int;
    fn uv_close(handle: *mut UvAsync, cb: CloseCb);
    fn uv_ref(handle: *mut UvAsync);
    fn uv_unref(handle: *mut UvAsync);
}

/// What the callback needs on the JS thread; owned by the handle's `data`.
struct Target {
    env: sys::napi_env,
    callback: sys::napi_ref,
    context: sys::napi_async_context,
}

/// The handle, shared between the JS thread (ref, unref, close) and the
/// I/O thread (send). `None` once closed.
struct Shared {
    handle: Mutex<Option<*mut UvAsync>>,
    /// The environment's cleanup hook ran (and released its reference).
    hook_ran: AtomicBool,
}

// The pointer is only dereferenced by libuv: `uv_async_send` from any thread,
// everything else on the loop's thread, and never after `close`.
unsafe impl Send for Shared {}
unsafe impl Sync for Shared {}

impl Shared {
    fn handle(&self) -> std::sync::MutexGuard<'_, Option<*mut UvAsync>> {
        self.handle.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// The I/O thread's side: wakes JS with `uv_async_send`.
pub struct UvWake(Arc<Shared>);

impl Wake for UvWake {
    fn wake(&self) {
        let handle = self.0.handle();
        if let Some(h) = *handle {
            // Fails only for a handle that is not an async handle.
            unsafe { uv_async_send(h) };
        }
    }
}

/// The JS thread's side: owns the handle.
pub struct UvWakeHandle {
    shared: Arc<Shared>,
    env: sys::napi_env,
}

fn check(status: sys::napi_status, what: &str) -> napi::Result<()> {
    if status == sys::Status::napi_ok {
        Ok(())
    } else {
        Err(napi::Error::from_reason(format!(
            "h2grpc: cannot set up the wake-up handle ({what})"
        )))
    }
}

/// Runs `callback` on `env`'s loop (with no arguments, in its own callback
/// scope so microtasks run after it, like a threadsafe function's call)
/// whenever the returned waker is woken. The handle starts unref'd: it keeps
/// the process alive only after `set_ref(true)`.
pub fn create(
    env: sys::napi_env,
    callback: sys::napi_value,
) -> napi::Result<(UvWake, UvWakeHandle)> {
    unsafe {
        let mut lp: *mut sys::uv_loop_s = ptr::null_mut();
        check(sys::napi_get_uv_event_loop(env, &mut lp), "event loop")?;
        let mut callback_ref = ptr::null_mut();
        check(
            sys::napi_create_reference(env, callback, 1, &mut callback_ref),
            "reference",
        )?;
        let mut name = ptr::null_mut();
        let label = "h2grpc:wake";
        check(
            sys::napi_create_string_utf8(
                env,
                label.as_ptr().cast(),
                label.len() as isize,
                &mut name,
            ),
            "resource name",
        )?;
        let mut context = ptr::null_mut();
        check(
            sys::napi_async_init(env, ptr::null_mut(), name, &mut context),
            "async context",
        )?;
        let target = Box::into_raw(Box::new(Target {
            env,
            callback: callback_ref,
            context,
        }));
        let handle = Box::into_raw(Box::new(UvAsync {
            data: target.cast(),
            _rest: [0; 248],
        }));
        if uv_async_init(lp, handle, on_async) != 0 {
            drop(Box::from_raw(handle));
            release_napi(target);
            drop(Box::from_raw(target));
            return Err(napi::Error::from_reason(
                "h2grpc: cannot set up the wake-up handle (uv_async_init)",
            ));
        }
        // libuv's init cleared the handle, `data` included.
        (*handle).data = target.cast();
        uv_unref(handle);
        let shared = Arc::new(Shared {
            handle: Mutex::new(Some(handle)),
            hook_ran: AtomicBool::new(false),
        });
        // At environment teardown (process exit, a worker thread ending) the
        // handle must be closed before the loop is.
        let hook_arg = Arc::into_raw(shared.clone()) as *mut c_void;
        check(
            sys::napi_add_env_cleanup_hook(env, Some(on_env_cleanup), hook_arg),
            "cleanup hook",
        )?;
        Ok((UvWake(shared.clone()), UvWakeHandle { shared, env }))
    }
}

impl UvWakeHandle {
    /// Whether the handle keeps the event loop alive.
    pub fn set_ref(&self, on: bool) {
        if let Some(h) = *self.shared.handle() {
            unsafe {
                if on {
                    uv_ref(h)
                } else {
                    uv_unref(h)
                }
            }
        }
    }
}

impl Drop for UvWakeHandle {
    fn drop(&mut self) {
        // Finalized before the environment's teardown: the cleanup hook need
        // not run, and the environment still takes N-API calls.
        if self.shared.hook_ran.load(Ordering::Acquire) {
            return;
        }
        unsafe {
            let arg = Arc::as_ptr(&self.shared) as *mut c_void;
            sys::napi_remove_env_cleanup_hook(self.env, Some(on_env_cleanup), arg);
            drop(Arc::from_raw(arg as *const Shared));
        }
        close(&self.shared, true);
    }
}

unsafe extern "C" fn on_env_cleanup(arg: *mut c_void) {
    let shared = Arc::from_raw(arg as *const Shared);
    shared.hook_ran.store(true, Ordering::Release);
    // The environment is going away with its references: only the handle
    // is ours to close.
    close(&shared, false);
}

/// Closes the handle once; later sends find it gone. `release` also frees
/// the callback's N-API reference and async context (not at teardown).
fn close(shared: &Shared, release: bool) {
    let taken = shared.handle().take();
    if let Some(h) = taken {
        unsafe {
            if release {
                release_napi((*h).data.cast());
            }
            uv_close(h, on_closed);
        }
    }
}

/// Frees the handle and its target once libuv is done with them.
unsafe extern "C" fn on_closed(handle: *mut UvAsync) {
    let handle = Box::from_raw(handle);
    drop(Box::from_raw(handle.data as *mut Target));
}

unsafe fn release_napi(target: *const Target) {
    let target = &*target;
    sys::napi_async_destroy(target.env, target.context);
    sys::napi_delete_reference(target.env, target.callback);
}

unsafe extern "C" fn on_async(handle: *mut UvAsync) {
    let target = &*((*handle).data as *const Target);
    let env = target.env;
    let mut scope = ptr::null_mut();
    if sys::napi_open_handle_scope(env, &mut scope) != sys::Status::napi_ok {
        return;
    }
    let mut func = ptr::null_mut();
    let mut recv = ptr::null_mut();
    if sys::napi_get_reference_value(env, target.callback, &mut func) == sys::Status::napi_ok
        && !func.is_null()
        && sys::napi_get_global(env, &mut recv) == sys::Status::napi_ok
    {
        let mut result = ptr::null_mut();
        let status =
            sys::napi_make_callback(env, target.context, recv, func, 0, ptr::null(), &mut result);
        if status == sys::Status::napi_pending_exception {
            // As a threadsafe function's call does: the process's
            // 'uncaughtException' handling decides.
            let mut error = ptr::null_mut();
            if sys::napi_get_and_clear_last_exception(env, &mut error) == sys::Status::napi_ok {
                sys::napi_fatal_exception(env, error);
            }
        }
    }
    sys::napi_close_handle_scope(env, scope);
}
