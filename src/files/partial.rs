//! Temporary files in flight. Every temporary the atomic writer makes is registered here until
//! it is renamed into place or removed, so that a process stopped by SIGINT, SIGTERM or SIGHUP
//! removes them before it dies (the binary installs the handler with
//! [`clean_up_on_signals`]); renames hold one lock that the clean-up waits for, so a group of
//! outputs written with [`all_or_none`] is either all in place or none of it is.
use crate::error::{Error, Result};
use std::cell::RefCell;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicI32, Ordering};
use std::sync::{Mutex, MutexGuard};

static LIVE: Mutex<Vec<PathBuf>> = Mutex::new(Vec::new());
/// Held while finished files are renamed into place (and unregistered).
static COMMIT: Mutex<()> = Mutex::new(());

fn live() -> MutexGuard<'static, Vec<PathBuf>> {
    LIVE.lock().unwrap_or_else(|e| e.into_inner())
}

fn commit_lock() -> MutexGuard<'static, ()> {
    COMMIT.lock().unwrap_or_else(|e| e.into_inner())
}

/// A registered temporary file: removed (and unregistered) when dropped unfinished.
pub(super) struct Partial(Option<tempfile::NamedTempFile>);

impl Partial {
    /// Creates a temporary file with `make` and registers it, both under the registry's lock:
    /// a signal's clean-up, which takes that lock, sees every temporary that exists.
    pub(super) fn create(
        make: impl FnOnce() -> std::io::Result<tempfile::NamedTempFile>,
    ) -> std::io::Result<Self> {
        let mut live = live();
        let tmp = make()?;
        live.push(tmp.path().to_path_buf());
        Ok(Partial(Some(tmp)))
    }

    pub(super) fn path(&self) -> &Path {
        self.0.as_ref().expect("present until persisted").path()
    }

    /// On disk with the ordinary `rw-r--r--` mode (temporaries are created owner-only).
    fn finish(&self, dest: &Path) -> Result<()> {
        let tmp = self.0.as_ref().expect("present until persisted");
        {
            use std::os::unix::fs::PermissionsExt;
            std::fs::set_permissions(tmp.path(), std::fs::Permissions::from_mode(0o644))
                .map_err(|e| Error::write(tmp.path(), e))?;
        }
        // On disk before the rename, so that a power cut never leaves an empty file under `dest`.
        tmp.as_file().sync_all().map_err(|e| Error::write(dest, e))
    }

    /// Renames it to `dest`; the caller holds the commit lock.
    fn rename(mut self, dest: &Path) -> Result<()> {
        super::output::refuse_special(dest)?;
        let tmp = self.0.take().expect("present until persisted");
        let path = tmp.path().to_path_buf();
        let r = tmp.persist(dest);
        live().retain(|p| *p != path);
        r.map(|_| ()).map_err(|e| Error::write(dest, e.error))
    }
}

impl Drop for Partial {
    fn drop(&mut self) {
        if let Some(tmp) = self.0.take() {
            let path = tmp.path().to_path_buf();
            drop(tmp);
            live().retain(|p| *p != path);
        }
    }
}

thread_local! {
    /// The finished temporaries of an open [`all_or_none`] group, in order.
    static GROUP: RefCell<Option<Vec<(Partial, PathBuf)>>> = const { RefCell::new(None) };
}

/// Puts a finished temporary in place: renamed now, or, inside [`all_or_none`], with its group.
pub(super) fn put_in_place(tmp: Partial, dest: &Path) -> Result<()> {
    tmp.finish(dest)?;
    let staged = GROUP.with(|g| match g.borrow_mut().as_mut() {
        Some(v) => {
            v.push((tmp, dest.to_path_buf()));
            None
        }
        None => Some(tmp),
    });
    match staged {
        Some(tmp) => {
            let _commit = commit_lock();
            tmp.rename(dest)
        }
        None => Ok(()),
    }
}

/// Runs `f`, holding back every file this thread writes through the atomic writer until `f`
/// has succeeded; then renames them all at once (a signal's clean-up waits for that), or, when
/// `f` fails, removes them all. Nested calls join the outer group.
pub fn all_or_none<T>(f: impl FnOnce() -> Result<T>) -> Result<T> {
    let outer = GROUP.with(|g| {
        let mut g = g.borrow_mut();
        let outer = g.is_some();
        if !outer {
            *g = Some(Vec::new());
        }
        outer
    });
    if outer {
        return f();
    }
    // The group ends with `f`, even when `f` panics: later writes of this thread are not held
    // back for a commit that never comes.
    struct Close;
    impl Drop for Close {
        fn drop(&mut self) {
            let _ = GROUP.try_with(|g| g.borrow_mut().take());
        }
    }
    let close = Close;
    let out = f();
    let staged = GROUP.with(|g| g.borrow_mut().take()).unwrap_or_default();
    drop(close);
    let out = out?;
    let _commit = commit_lock();
    // Every destination is checked before any is renamed, so that a refusal leaves none.
    for (_, dest) in &staged {
        super::output::refuse_special(dest)?;
    }
    for (tmp, dest) in staged {
        tmp.rename(&dest)?;
    }
    Ok(out)
}

static WAKE: AtomicI32 = AtomicI32::new(-1);

extern "C" fn on_signal(sig: libc::c_int) {
    let fd = WAKE.load(Ordering::Relaxed);
    if fd >= 0 {
        let b = sig as u8;
        // SAFETY: write(2) is async-signal-safe; the byte lives on this frame. errno is saved
        // and restored, as the interrupted code may be about to read it.
        unsafe {
            let errno = *libc::__errno_location();
            libc::write(fd, (&b as *const u8).cast(), 1);
            *libc::__errno_location() = errno;
        }
    }
}

const SIGNALS: [libc::c_int; 3] = [libc::SIGINT, libc::SIGTERM, libc::SIGHUP];

/// Makes SIGINT, SIGTERM and SIGHUP remove this process's temporary files before it dies of
/// them (a signal that was ignored when the process started stays ignored). The handler only
/// wakes a thread, which waits for renames in progress, removes what is left, and then lets the
/// signal take its default course. Call once, early, from the binary.
pub fn clean_up_on_signals() {
    let mut fds = [0 as libc::c_int; 2];
    // SAFETY: pipe2 fills the two descriptors; sigaction with a handler that only writes a byte.
    unsafe {
        if libc::pipe2(fds.as_mut_ptr(), libc::O_CLOEXEC) != 0 {
            return;
        }
        WAKE.store(fds[1], Ordering::Relaxed);
        for sig in SIGNALS {
            let mut old: libc::sigaction = std::mem::zeroed();
            if libc::sigaction(sig, std::ptr::null(), &mut old) == 0
                && old.sa_sigaction == libc::SIG_IGN
            {
                continue;
            }
            let mut act: libc::sigaction = std::mem::zeroed();
            act.sa_sigaction = on_signal as *const () as usize;
            act.sa_flags = libc::SA_RESTART;
            libc::sigemptyset(&mut act.sa_mask);
            libc::sigaction(sig, &act, std::ptr::null_mut());
        }
    }
    let read_fd = fds[0];
    let spawned = std::thread::Builder::new()
        .name("signal-clean-up".into())
        .spawn(move || loop {
            let mut b = 0u8;
            // SAFETY: reads one byte into `b` from the pipe this thread owns.
            let n = unsafe { libc::read(read_fd, (&mut b as *mut u8).cast(), 1) };
            if n != 1 {
                continue;
            }
            let sig = libc::c_int::from(b);
            let _commit = commit_lock();
            // Held until the process ends: no new temporary is made after this clean-up.
            let mut live = live();
            for p in live.drain(..) {
                let _ = std::fs::remove_file(p);
            }
            // SAFETY: restore the default action and deliver the signal again: the process
            // ends as the sender meant (exit status "killed by signal").
            unsafe {
                libc::signal(sig, libc::SIG_DFL);
                libc::raise(sig);
                libc::_exit(128 + sig);
            }
        });
    if spawned.is_err() {
        // Nobody would act on a signal: give them their default course back.
        WAKE.store(-1, Ordering::Relaxed);
        for sig in SIGNALS {
            // SAFETY: restoring the default action.
            unsafe { libc::signal(sig, libc::SIG_DFL) };
        }
    }
}
