//! The device's filesystem, for tests: LittleFS's own C code (the `littlefs2-sys`
//! crate, littlefs 2.9 like esp_littlefs 1.14) over a simulated NOR flash the size of
//! the firmware's `spool` partition, behind the rules of esp_littlefs's VFS:
//! - `rename` fails with `EBUSY` when the source or the destination is open, `unlink`
//!   when the file is open ("Cannot rename; src/dst is open");
//! - a directory cannot be synced (a no-op, as `StdStorage` does on the device);
//! - no file locks (the lock's guard only keeps the file open);
//! - no `fs::copy`: the trait has none, and host paths do not reach this flash.
//!
//! The flash can lose power at any program or erase ([`DevFs::cut_at`]): that
//! operation is torn (only a prefix of its bytes reaches the flash) and every later one
//! fails, until [`DevFs::power_on`] remounts the flash as it was left (no format; a
//! mount that fails is counted in [`FlashStats::formats`] and only then formatted).
//!
//! Open files from before a power cut become inert: they never touch the new mount.
#![allow(unsafe_code, dead_code)] // FFI to LittleFS; each test binary uses a part

use std::collections::HashMap;
use std::ffi::{CString, c_int, c_void};
use std::fmt;
use std::io;
use std::path::{Component, Path};
use std::sync::{Arc, Mutex, MutexGuard};

use lakenode::storage::{AppendFile, DirEntry, Storage};
use littlefs2_sys as lfs;

/// esp_littlefs's defaults: 4 KiB blocks, 128-byte reads and programs, 512-byte caches.
pub const BLOCK: usize = 4096;
const READ: u32 = 128;
const PROG: u32 = 128;
const CACHE: usize = 512;
const LOOKAHEAD: usize = 128;
/// The firmware's `spool` partition (partitions.csv): 4 MiB.
pub const PARTITION: usize = 4 * 1024 * 1024;

const EBUSY: i32 = 16;
const LFS_ERR_IO: c_int = lfs::lfs_error_LFS_ERR_IO;

/// What the flash went through.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct FlashStats {
    /// Programs and erases since the flash was made (the index a cut refers to).
    pub ops: u64,
    /// Erases.
    pub erases: u64,
    /// Bytes programmed.
    pub programmed: u64,
    /// Mounts that failed and needed a format (must stay 0).
    pub formats: u64,
    /// Power cuts.
    pub cuts: u64,
    /// Of which during an erase.
    pub erase_cuts: u64,
}

/// A NOR flash: erase sets a block to 0xFF, a program can only clear bits.
struct Flash {
    data: Vec<u8>,
    stats: FlashStats,
    /// The operation index at which the power goes.
    cut_at: Option<u64>,
    /// Chooses how much of the torn operation lands.
    tear: u64,
    powered: bool,
}

impl Flash {
    /// Counts an operation; at the cut, returns how many of `len` bytes still land.
    fn begin(&mut self, len: usize) -> Result<(), usize> {
        let index = self.stats.ops;
        self.stats.ops += 1;
        if self.cut_at == Some(index) {
            self.powered = false;
            self.cut_at = None;
            self.stats.cuts += 1;
            self.tear = self
                .tear
                .wrapping_mul(6_364_136_223_846_793_005)
                .wrapping_add(1);
            let landed = usize::try_from(self.tear >> 33).unwrap_or(0) % len.max(1);
            return Err(landed);
        }
        Ok(())
    }

    fn program(&mut self, at: usize, bytes: &[u8]) -> c_int {
        if !self.powered {
            return LFS_ERR_IO;
        }
        let (n, result) = match self.begin(bytes.len()) {
            Ok(()) => (bytes.len(), 0),
            Err(landed) => (landed, LFS_ERR_IO),
        };
        for (cell, b) in self.data[at..at + n].iter_mut().zip(bytes) {
            *cell &= b;
        }
        self.stats.programmed += n as u64;
        result
    }

    fn erase(&mut self, block: usize) -> c_int {
        if !self.powered {
            return LFS_ERR_IO;
        }
        let at = block * BLOCK;
        let (n, result) = match self.begin(BLOCK) {
            Ok(()) => (BLOCK, 0),
            Err(landed) => {
                self.stats.erase_cuts += 1;
                (landed, LFS_ERR_IO)
            }
        };
        self.data[at..at + n].fill(0xFF);
        self.stats.erases += 1;
        result
    }
}

/// The mounted filesystem and the VFS's table of open files.
struct Mounted {
    lfs: *mut lfs::lfs_t,
    config: *mut lfs::lfs_config,
    flash: *mut Flash,
    /// The config's read, program and lookahead buffers (owned here).
    buffers: Vec<Box<[u8]>>,
    files: HashMap<u64, OpenFile>,
    next_fd: u64,
    /// Bumped at every power-on: handles of an earlier mount are inert.
    generation: u64,
    mounted: bool,
}

/// An open LittleFS file, with the buffers LittleFS keeps pointers to.
struct OpenFile {
    path: String,
    file: Box<lfs::lfs_file_t>,
    _config: Box<lfs::lfs_file_config>,
    _buffer: Box<[u8]>,
}

// SAFETY: the raw pointers are owned by `Mounted` and only used behind `DevFs`'s mutex.
unsafe impl Send for Mounted {}

/// The simulated device flash with LittleFS mounted on it, as a [`Storage`].
pub struct DevFs {
    inner: Mutex<Mounted>,
    /// Where the partition is mounted in the VFS (`/spool` on the device).
    mount_point: String,
}

impl fmt::Debug for DevFs {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "DevFs({})", self.mount_point)
    }
}

extern "C" fn flash_read(
    c: *const lfs::lfs_config,
    block: lfs::lfs_block_t,
    off: lfs::lfs_off_t,
    buffer: *mut c_void,
    size: lfs::lfs_size_t,
) -> c_int {
    // SAFETY: LittleFS passes the config we gave it, whose context is our `Flash`,
    // and a buffer of `size` bytes.
    let (flash, out) = unsafe {
        (
            &*((*c).context as *const Flash),
            std::slice::from_raw_parts_mut(buffer.cast::<u8>(), size as usize),
        )
    };
    if !flash.powered {
        return LFS_ERR_IO;
    }
    let at = block as usize * BLOCK + off as usize;
    out.copy_from_slice(&flash.data[at..at + out.len()]);
    0
}

extern "C" fn flash_prog(
    c: *const lfs::lfs_config,
    block: lfs::lfs_block_t,
    off: lfs::lfs_off_t,
    buffer: *const c_void,
    size: lfs::lfs_size_t,
) -> c_int {
    // SAFETY: as in `flash_read`.
    let (flash, bytes) = unsafe {
        (
            &mut *((*c).context as *mut Flash),
            std::slice::from_raw_parts(buffer.cast::<u8>(), size as usize),
        )
    };
    flash.program(block as usize * BLOCK + off as usize, bytes)
}

extern "C" fn flash_erase(c: *const lfs::lfs_config, block: lfs::lfs_block_t) -> c_int {
    // SAFETY: as in `flash_read`.
    let flash = unsafe { &mut *((*c).context as *mut Flash) };
    flash.erase(block as usize)
}

extern "C" fn flash_sync(c: *const lfs::lfs_config) -> c_int {
    // SAFETY: as in `flash_read`.
    let flash = unsafe { &*((*c).context as *const Flash) };
    if flash.powered { 0 } else { LFS_ERR_IO }
}

fn lfs_result(code: c_int) -> io::Result<c_int> {
    if code < 0 {
        Err(io::Error::from_raw_os_error(-code))
    } else {
        Ok(code)
    }
}

/// esp_littlefs's answer to a rename or unlink of an open file (it logs `what`).
fn busy(_what: &str) -> io::Error {
    io::Error::from_raw_os_error(EBUSY)
}

impl DevFs {
    /// A blank flash of `bytes`, formatted and mounted at `mount_point`.
    pub fn new(mount_point: &str, bytes: usize) -> Arc<Self> {
        let flash = Box::new(Flash {
            data: vec![0xFF; bytes],
            stats: FlashStats::default(),
            cut_at: None,
            tear: 0x2545_F491_4F6C_DD1D,
            powered: true,
        });
        let mut buffers: Vec<Box<[u8]>> = vec![
            vec![0; CACHE].into_boxed_slice(),
            vec![0; CACHE].into_boxed_slice(),
            vec![0; LOOKAHEAD].into_boxed_slice(),
        ];
        let flash = Box::into_raw(flash);
        let config = Box::new(lfs::lfs_config {
            context: flash.cast(),
            read: Some(flash_read),
            prog: Some(flash_prog),
            erase: Some(flash_erase),
            sync: Some(flash_sync),
            read_size: READ,
            prog_size: PROG,
            block_size: BLOCK as u32,
            block_count: u32::try_from(bytes / BLOCK).expect("block count"),
            block_cycles: 512,
            cache_size: CACHE as u32,
            lookahead_size: LOOKAHEAD as u32,
            read_buffer: buffers[0].as_mut_ptr().cast(),
            prog_buffer: buffers[1].as_mut_ptr().cast(),
            lookahead_buffer: buffers[2].as_mut_ptr().cast(),
            ..Default::default()
        });
        let mut m = Mounted {
            lfs: Box::into_raw(Box::default()),
            config: Box::into_raw(config),
            flash,
            buffers,
            files: HashMap::new(),
            next_fd: 0,
            generation: 0,
            mounted: false,
        };
        // SAFETY: lfs and config are valid and pinned for the life of `m`.
        let formatted = unsafe { lfs::lfs_format(m.lfs, m.config) };
        assert_eq!(formatted, 0, "format a blank flash");
        m.mount();
        Arc::new(Self {
            inner: Mutex::new(m),
            mount_point: mount_point.trim_end_matches('/').to_owned(),
        })
    }

    fn lock(&self) -> MutexGuard<'_, Mounted> {
        self.inner
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Cuts the power at flash operation `index` (counted from the flash's making); an
    /// index already passed never comes.
    pub fn cut_at(&self, index: u64) {
        self.lock().flash_mut().cut_at = Some(index);
    }

    /// Whether the power is off (a cut happened).
    pub fn is_off(&self) -> bool {
        !self.lock().flash().powered
    }

    /// Power back on: the old open files are forgotten (a reboot) and the flash is
    /// mounted as it was left. Only if that fails is it formatted (counted).
    pub fn power_on(&self) {
        let mut m = self.lock();
        m.files.clear();
        m.generation += 1;
        m.flash_mut().powered = true;
        m.mounted = false;
        // SAFETY: a fresh lfs_t: the old one's state (and open-file list) is dropped.
        unsafe {
            drop(Box::from_raw(m.lfs));
            m.lfs = Box::into_raw(Box::default());
        }
        m.mount();
    }

    /// Counters of the flash.
    pub fn stats(&self) -> FlashStats {
        self.lock().flash().stats
    }

    /// Blocks in use, as LittleFS counts them (files, metadata, directories).
    pub fn used_blocks(&self) -> u64 {
        let m = self.lock();
        // SAFETY: a mounted filesystem.
        let n = unsafe { lfs::lfs_fs_size(m.lfs) };
        u64::try_from(n).unwrap_or(0)
    }

    /// The LittleFS path of `path`, which must be under the mount point.
    fn lfs_path(&self, path: &Path) -> io::Result<CString> {
        let rest = path
            .strip_prefix(&self.mount_point)
            .map_err(|_| io::Error::from(io::ErrorKind::NotFound))?;
        let mut out = String::from("/");
        for part in rest.components() {
            match part {
                Component::Normal(p) => {
                    if out.len() > 1 {
                        out.push('/');
                    }
                    out.push_str(p.to_str().ok_or(io::ErrorKind::InvalidInput)?);
                }
                _ => return Err(io::ErrorKind::InvalidInput.into()),
            }
        }
        CString::new(out).map_err(|_| io::ErrorKind::InvalidInput.into())
    }

    fn is_open(m: &Mounted, path: &CString) -> bool {
        let p = path.to_str().unwrap_or_default();
        m.files.values().any(|f| f.path == p)
    }

    /// Opens a file in the VFS's table; returns its descriptor.
    fn open(&self, m: &mut Mounted, path: &CString, flags: u32) -> io::Result<u64> {
        let mut buffer = vec![0u8; CACHE].into_boxed_slice();
        let config = Box::new(lfs::lfs_file_config {
            buffer: buffer.as_mut_ptr().cast(),
            attrs: std::ptr::null_mut(),
            attr_count: 0,
        });
        let mut file: Box<lfs::lfs_file_t> = Box::default();
        // SAFETY: file, config and buffer are boxed and kept in the table until closed.
        lfs_result(unsafe {
            lfs::lfs_file_opencfg(m.lfs, &mut *file, path.as_ptr(), flags as c_int, &*config)
        })?;
        let fd = m.next_fd;
        m.next_fd += 1;
        m.files.insert(
            fd,
            OpenFile {
                path: path.to_str().unwrap_or_default().to_owned(),
                file,
                _config: config,
                _buffer: buffer,
            },
        );
        Ok(fd)
    }

    fn close(m: &mut Mounted, fd: u64) -> io::Result<()> {
        let Some(mut f) = m.files.remove(&fd) else {
            return Ok(());
        };
        // SAFETY: an open file of this mount.
        lfs_result(unsafe { lfs::lfs_file_close(m.lfs, &mut *f.file) }).map(drop)
    }

    fn write_all(m: &mut Mounted, fd: u64, data: &[u8]) -> io::Result<()> {
        let f = m.files.get_mut(&fd).ok_or(io::ErrorKind::InvalidInput)?;
        let len = u32::try_from(data.len()).map_err(|_| io::ErrorKind::InvalidInput)?;
        // SAFETY: an open file of this mount, and `data` for `len` bytes.
        let n = lfs_result(unsafe {
            lfs::lfs_file_write(m.lfs, &mut *f.file, data.as_ptr().cast(), len)
        })?;
        if n as usize == data.len() {
            Ok(())
        } else {
            Err(io::ErrorKind::WriteZero.into())
        }
    }

    fn sync(m: &mut Mounted, fd: u64) -> io::Result<()> {
        let f = m.files.get_mut(&fd).ok_or(io::ErrorKind::InvalidInput)?;
        // SAFETY: an open file of this mount.
        lfs_result(unsafe { lfs::lfs_file_sync(m.lfs, &mut *f.file) }).map(drop)
    }

    fn read_from(&self, path: &Path, limit: usize) -> io::Result<Vec<u8>> {
        let path = self.lfs_path(path)?;
        let mut m = self.lock();
        let fd = self.open(&mut m, &path, lfs::lfs_open_flags_LFS_O_RDONLY)?;
        let mut out = Vec::new();
        let mut chunk = [0u8; 512];
        let result = loop {
            let want = chunk.len().min(limit - out.len());
            if want == 0 {
                break Ok(());
            }
            let lfs = m.lfs;
            let f = m.files.get_mut(&fd).ok_or(io::ErrorKind::InvalidInput)?;
            // SAFETY: an open file of this mount, and `chunk` for `want` bytes.
            match lfs_result(unsafe {
                lfs::lfs_file_read(lfs, &mut *f.file, chunk.as_mut_ptr().cast(), want as u32)
            }) {
                Ok(0) => break Ok(()),
                Ok(n) => out.extend_from_slice(&chunk[..n as usize]),
                Err(e) => break Err(e),
            }
        };
        Self::close(&mut m, fd)?;
        result.map(|()| out)
    }
}

impl Mounted {
    fn flash(&self) -> &Flash {
        // SAFETY: owned by `self` until drop.
        unsafe { &*self.flash }
    }

    fn flash_mut(&mut self) -> &mut Flash {
        // SAFETY: owned by `self` until drop.
        unsafe { &mut *self.flash }
    }

    /// Mounts what the flash holds; formats only if that fails (counted).
    fn mount(&mut self) {
        // SAFETY: lfs and config are valid and pinned.
        let mut code = unsafe { lfs::lfs_mount(self.lfs, self.config) };
        if code != 0 {
            self.flash_mut().stats.formats += 1;
            // SAFETY: as above.
            code = unsafe {
                lfs::lfs_format(self.lfs, self.config);
                lfs::lfs_mount(self.lfs, self.config)
            };
        }
        assert_eq!(code, 0, "mount after format");
        self.mounted = true;
    }
}

impl Drop for Mounted {
    fn drop(&mut self) {
        self.files.clear();
        // SAFETY: each pointer came from Box::into_raw and is freed once.
        unsafe {
            drop(Box::from_raw(self.lfs));
            drop(Box::from_raw(self.config));
            drop(Box::from_raw(self.flash));
        }
        self.buffers.clear();
    }
}

/// A descriptor of the VFS's table: inert once the power was cut.
struct Fd {
    fs: Arc<DevFs>,
    fd: u64,
    generation: u64,
}

impl fmt::Debug for Fd {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Fd({})", self.fd)
    }
}

impl Fd {
    fn with<T>(&self, f: impl FnOnce(&mut Mounted) -> io::Result<T>) -> io::Result<T> {
        let mut m = self.fs.lock();
        if m.generation != self.generation || !m.flash().powered {
            return Err(io::Error::from_raw_os_error(-LFS_ERR_IO));
        }
        f(&mut m)
    }
}

impl Drop for Fd {
    fn drop(&mut self) {
        let _ = self.with(|m| DevFs::close(m, self.fd));
    }
}

impl AppendFile for Fd {
    fn append(&mut self, data: &[u8]) -> io::Result<()> {
        self.with(|m| DevFs::write_all(m, self.fd, data))
    }

    fn sync(&mut self) -> io::Result<()> {
        self.with(|m| DevFs::sync(m, self.fd))
    }
}

/// The storage as the core sees it: `Arc<DevFs>` (handles keep the filesystem).
#[derive(Debug, Clone)]
pub struct Device(pub Arc<DevFs>);

impl Device {
    fn fd(&self, path: &Path, flags: u32) -> io::Result<Fd> {
        let path = self.0.lfs_path(path)?;
        let mut m = self.0.lock();
        let fd = self.0.open(&mut m, &path, flags)?;
        Ok(Fd {
            fs: self.0.clone(),
            fd,
            generation: m.generation,
        })
    }
}

impl Storage for Device {
    fn create_dir_all(&self, dir: &Path) -> io::Result<()> {
        let path = self.0.lfs_path(dir)?;
        let text = path.to_str().unwrap_or_default();
        let m = self.0.lock();
        let mut at = String::new();
        for part in text.split('/').filter(|p| !p.is_empty()) {
            at.push('/');
            at.push_str(part);
            let c = CString::new(at.as_str()).map_err(|_| io::ErrorKind::InvalidInput)?;
            // SAFETY: a mounted filesystem and a C string.
            let code = unsafe { lfs::lfs_mkdir(m.lfs, c.as_ptr()) };
            if code != lfs::lfs_error_LFS_ERR_EXIST {
                lfs_result(code)?;
            }
        }
        Ok(())
    }

    fn list(&self, dir: &Path) -> io::Result<Vec<DirEntry>> {
        let path = self.0.lfs_path(dir)?;
        let m = self.0.lock();
        let mut d: Box<lfs::lfs_dir_t> = Box::default();
        // SAFETY: a mounted filesystem; `d` lives until closed below.
        lfs_result(unsafe { lfs::lfs_dir_open(m.lfs, &mut *d, path.as_ptr()) })?;
        let mut out = Vec::new();
        let result = loop {
            let mut info = lfs::lfs_info {
                type_: 0,
                size: 0,
                name: [0; 256],
            };
            // SAFETY: an open directory.
            match lfs_result(unsafe { lfs::lfs_dir_read(m.lfs, &mut *d, &mut info) }) {
                Ok(0) => break Ok(()),
                Ok(_) => {
                    // SAFETY: LittleFS NUL-terminates names.
                    let name = unsafe { std::ffi::CStr::from_ptr(info.name.as_ptr()) };
                    let name = name.to_string_lossy().into_owned();
                    if name != "." && name != ".." {
                        out.push(DirEntry {
                            name,
                            is_dir: u32::from(info.type_) == lfs::lfs_type_LFS_TYPE_DIR,
                        });
                    }
                }
                Err(e) => break Err(e),
            }
        };
        // SAFETY: the directory opened above.
        unsafe { lfs::lfs_dir_close(m.lfs, &mut *d) };
        result.map(|()| out)
    }

    fn read(&self, path: &Path) -> io::Result<Vec<u8>> {
        self.0.read_from(path, usize::MAX)
    }

    fn read_head(&self, path: &Path, len: usize) -> io::Result<Vec<u8>> {
        self.0.read_from(path, len)
    }

    fn size(&self, path: &Path) -> io::Result<u64> {
        let path = self.0.lfs_path(path)?;
        let m = self.0.lock();
        let mut info = lfs::lfs_info {
            type_: 0,
            size: 0,
            name: [0; 256],
        };
        // SAFETY: a mounted filesystem.
        lfs_result(unsafe { lfs::lfs_stat(m.lfs, path.as_ptr(), &mut info) })?;
        Ok(u64::from(info.size))
    }

    fn write(&self, path: &Path, data: &[u8]) -> io::Result<()> {
        let flags = lfs::lfs_open_flags_LFS_O_WRONLY
            | lfs::lfs_open_flags_LFS_O_CREAT
            | lfs::lfs_open_flags_LFS_O_TRUNC;
        let fd = self.fd(path, flags)?;
        fd.with(|m| DevFs::write_all(m, fd.fd, data))?;
        fd.with(|m| DevFs::sync(m, fd.fd))?;
        fd.with(|m| DevFs::close(m, fd.fd))
    }

    fn open_append(&self, path: &Path) -> io::Result<Box<dyn AppendFile>> {
        let flags = lfs::lfs_open_flags_LFS_O_WRONLY
            | lfs::lfs_open_flags_LFS_O_CREAT
            | lfs::lfs_open_flags_LFS_O_APPEND;
        Ok(Box::new(self.fd(path, flags)?))
    }

    fn lock(&self, path: &Path, holder: &str) -> io::Result<Box<dyn fmt::Debug + Send + Sync>> {
        // No flock on the device: std's try_lock says Unsupported and the file stays
        // open, truncated, with the holder written into it.
        let flags = lfs::lfs_open_flags_LFS_O_RDWR
            | lfs::lfs_open_flags_LFS_O_CREAT
            | lfs::lfs_open_flags_LFS_O_TRUNC;
        let fd = self.fd(path, flags)?;
        fd.with(|m| DevFs::write_all(m, fd.fd, format!("{holder}\n").as_bytes()))?;
        Ok(Box::new(fd))
    }

    fn rename(&self, from: &Path, to: &Path) -> io::Result<()> {
        let (from, to) = (self.0.lfs_path(from)?, self.0.lfs_path(to)?);
        let m = self.0.lock();
        if DevFs::is_open(&m, &from) || DevFs::is_open(&m, &to) {
            return Err(busy("Cannot rename; src/dst is open"));
        }
        // SAFETY: a mounted filesystem and C strings.
        lfs_result(unsafe { lfs::lfs_rename(m.lfs, from.as_ptr(), to.as_ptr()) }).map(drop)
    }

    fn remove(&self, path: &Path) -> io::Result<()> {
        let path = self.0.lfs_path(path)?;
        let m = self.0.lock();
        if DevFs::is_open(&m, &path) {
            return Err(busy("Cannot unlink; the file is open"));
        }
        // SAFETY: a mounted filesystem and a C string.
        lfs_result(unsafe { lfs::lfs_remove(m.lfs, path.as_ptr()) }).map(drop)
    }

    fn sync_dir(&self, _dir: &Path) -> io::Result<()> {
        // esp_littlefs cannot open a directory as a file: StdStorage's sync_dir finds
        // nothing to sync on the device. LittleFS commits renames atomically itself.
        Ok(())
    }
}
