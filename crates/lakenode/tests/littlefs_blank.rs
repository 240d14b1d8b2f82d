//! `device::holds_littlefs`, the firmware's "may this spool partition be formatted?",
//! against the real LittleFS (v2.9, the C code esp_littlefs builds, through
//! `littlefs2-sys`) on a simulated flash with esp_littlefs's 4 KiB blocks: a formatted
//! partition holds the magic in block 0 or 1 through thousands of writes, renames and
//! removals (the superblock pair compacted again and again), an erased one does not, and
//! a damaged superblock that no longer mounts still counts as a filesystem: not blank,
//! never formatted.
#![allow(unsafe_code, clippy::unwrap_used, missing_docs)] // FFI to the C library; a failed unwrap is a failed test

use std::ffi::{CString, c_int, c_void};

use lakenode::device::{LITTLEFS_BLOCK, LITTLEFS_HEAD, holds_littlefs};
use littlefs2_sys as lfs;

const BLOCKS: usize = 32;
const CACHE: usize = 256;
const LOOKAHEAD: usize = 16;

/// A NOR flash in memory (erased = 0xFF), with the buffers LittleFS needs (no malloc).
struct Flash {
    bytes: Vec<u8>,
    read: [u8; CACHE],
    prog: [u8; CACHE],
    lookahead: [u8; LOOKAHEAD],
    file: [u8; CACHE],
}

unsafe fn flash<'a>(c: *const lfs::lfs_config) -> &'a mut Flash {
    unsafe { &mut *(*c).context.cast::<Flash>() }
}

fn range(
    block: lfs::lfs_block_t,
    off: lfs::lfs_off_t,
    size: lfs::lfs_size_t,
) -> std::ops::Range<usize> {
    let start = block as usize * LITTLEFS_BLOCK + off as usize;
    start..start + size as usize
}

unsafe extern "C" fn read(
    c: *const lfs::lfs_config,
    block: lfs::lfs_block_t,
    off: lfs::lfs_off_t,
    buffer: *mut c_void,
    size: lfs::lfs_size_t,
) -> c_int {
    let src = &unsafe { flash(c) }.bytes[range(block, off, size)];
    unsafe { std::ptr::copy_nonoverlapping(src.as_ptr(), buffer.cast(), src.len()) };
    0
}

unsafe extern "C" fn prog(
    c: *const lfs::lfs_config,
    block: lfs::lfs_block_t,
    off: lfs::lfs_off_t,
    buffer: *const c_void,
    size: lfs::lfs_size_t,
) -> c_int {
    let data = unsafe { std::slice::from_raw_parts(buffer.cast::<u8>(), size as usize) };
    let dst = &mut unsafe { flash(c) }.bytes[range(block, off, size)];
    // NOR flash: programming only clears bits.
    dst.iter_mut().zip(data).for_each(|(d, s)| *d &= s);
    0
}

unsafe extern "C" fn erase(c: *const lfs::lfs_config, block: lfs::lfs_block_t) -> c_int {
    unsafe { flash(c) }.bytes[range(block, 0, LITTLEFS_BLOCK as u32)].fill(0xFF);
    0
}

unsafe extern "C" fn sync(_: *const lfs::lfs_config) -> c_int {
    0
}

/// The filesystem over one flash; the flash is boxed so the config can point at it.
struct Fs {
    flash: Box<Flash>,
    config: Box<lfs::lfs_config>,
    lfs: Box<lfs::lfs_t>,
}

impl Fs {
    fn erased() -> Self {
        let mut flash = Box::new(Flash {
            bytes: vec![0xFF; BLOCKS * LITTLEFS_BLOCK],
            read: [0; CACHE],
            prog: [0; CACHE],
            lookahead: [0; LOOKAHEAD],
            file: [0; CACHE],
        });
        // esp_littlefs's geometry: 4 KiB blocks, metadata relocated every 512 erases.
        let config = Box::new(lfs::lfs_config {
            context: std::ptr::from_mut(&mut *flash).cast(),
            read: Some(read),
            prog: Some(prog),
            erase: Some(erase),
            sync: Some(sync),
            read_size: 128,
            prog_size: 128,
            block_size: LITTLEFS_BLOCK as u32,
            block_count: BLOCKS as u32,
            block_cycles: 512,
            cache_size: CACHE as u32,
            lookahead_size: LOOKAHEAD as u32,
            read_buffer: flash.read.as_mut_ptr().cast(),
            prog_buffer: flash.prog.as_mut_ptr().cast(),
            lookahead_buffer: flash.lookahead.as_mut_ptr().cast(),
            ..Default::default()
        });
        Self {
            flash,
            config,
            lfs: Box::default(),
        }
    }

    fn heads(&self) -> ([u8; LITTLEFS_HEAD], [u8; LITTLEFS_HEAD]) {
        let at = |block: usize| {
            let start = block * LITTLEFS_BLOCK;
            self.flash.bytes[start..start + LITTLEFS_HEAD]
                .try_into()
                .unwrap()
        };
        (at(0), at(1))
    }

    fn holds_littlefs(&self) -> bool {
        let (block0, block1) = self.heads();
        holds_littlefs(&block0, &block1)
    }

    fn format(&mut self) -> c_int {
        unsafe { lfs::lfs_format(&mut *self.lfs, &*self.config) }
    }

    fn mount(&mut self) -> c_int {
        unsafe { lfs::lfs_mount(&mut *self.lfs, &*self.config) }
    }

    fn unmount(&mut self) {
        assert_eq!(unsafe { lfs::lfs_unmount(&mut *self.lfs) }, 0);
    }

    fn write(&mut self, path: &str, data: &[u8]) {
        let path = CString::new(path).unwrap();
        let file_config = lfs::lfs_file_config {
            buffer: self.flash.file.as_mut_ptr().cast(),
            ..Default::default()
        };
        let mut file = lfs::lfs_file_t::default();
        let flags = lfs::lfs_open_flags_LFS_O_WRONLY
            | lfs::lfs_open_flags_LFS_O_CREAT
            | lfs::lfs_open_flags_LFS_O_TRUNC;
        unsafe {
            let lfs = &mut *self.lfs;
            let opened =
                lfs::lfs_file_opencfg(lfs, &mut file, path.as_ptr(), flags as c_int, &file_config);
            assert_eq!(opened, 0, "open");
            let len = data.len() as lfs::lfs_size_t;
            assert_eq!(
                lfs::lfs_file_write(lfs, &mut file, data.as_ptr().cast(), len),
                len as i32
            );
            assert_eq!(lfs::lfs_file_close(lfs, &mut file), 0, "close");
        }
    }

    fn rename(&mut self, from: &str, to: &str) {
        let (from, to) = (CString::new(from).unwrap(), CString::new(to).unwrap());
        assert_eq!(
            unsafe { lfs::lfs_rename(&mut *self.lfs, from.as_ptr(), to.as_ptr()) },
            0
        );
    }

    fn remove(&mut self, path: &str) {
        let path = CString::new(path).unwrap();
        assert_eq!(unsafe { lfs::lfs_remove(&mut *self.lfs, path.as_ptr()) }, 0);
    }
}

#[test]
fn an_erased_partition_is_blank_and_does_not_mount() {
    let mut fs = Fs::erased();
    assert!(!fs.holds_littlefs());
    assert_ne!(
        fs.mount(),
        0,
        "what the firmware sees first: a failed mount"
    );
}

#[test]
fn a_used_littlefs_keeps_its_magic_in_block_0_or_1() {
    let mut fs = Fs::erased();
    assert_eq!(fs.format(), 0);
    assert!(fs.holds_littlefs(), "just formatted: {:?}", fs.heads());
    assert_eq!(fs.mount(), 0);
    // The spool's life: a journal rewritten and renamed over, window files written and
    // removed once uploaded; the root directory (the superblock pair) is compacted
    // over and over.
    let window = vec![0x5A; 3_946];
    for i in 0..3_000 {
        fs.write("journal.tmp", format!("sample {i}").as_bytes());
        fs.rename("journal.tmp", "journal");
        if i % 20 == 0 {
            fs.write(&format!("data_{i}.parquet"), &window);
        }
        if i % 20 == 10 {
            fs.remove(&format!("data_{}.parquet", i - 10));
        }
        if i % 100 == 0 {
            assert!(
                fs.holds_littlefs(),
                "after {i} journal writes: {:?}",
                fs.heads()
            );
        }
    }
    fs.unmount();
    assert!(fs.holds_littlefs());
    assert_eq!(fs.mount(), 0, "still mounts");
}

#[test]
fn a_damaged_superblock_that_no_longer_mounts_is_not_blank() {
    let mut fs = Fs::erased();
    assert_eq!(fs.format(), 0);
    assert_eq!(fs.mount(), 0);
    fs.write("data_0000.parquet", b"not yet in S3");
    fs.unmount();
    // Bit rot in both blocks' commits after the magic: the CRCs fail.
    for block in [0, 1] {
        let at = block * LITTLEFS_BLOCK + LITTLEFS_HEAD;
        fs.flash.bytes[at..at + 64]
            .iter_mut()
            .for_each(|b| *b ^= 0x5A);
    }
    assert_ne!(fs.mount(), 0, "it does not mount");
    assert!(
        fs.holds_littlefs(),
        "but it is a LittleFS: report, never format"
    );
}
