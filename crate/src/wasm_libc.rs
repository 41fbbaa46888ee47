//! The few C library symbols that openjp2 (a C2Rust port) imports, provided from Rust
//! on wasm32-unknown-unknown, where there is no libc; without them the module imports
//! `env.malloc` & co. and fails to instantiate. Also a global allocator that ignores
//! `dealloc(null)`, which openjp2 does and which traps on wasm's dlmalloc.

use core::ffi::{c_char, c_int, c_void};
use std::alloc::{GlobalAlloc, Layout, System};

struct NullTolerantAllocator;

unsafe impl GlobalAlloc for NullTolerantAllocator {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        System.alloc(layout)
    }
    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        System.alloc_zeroed(layout)
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        if !ptr.is_null() {
            System.dealloc(ptr, layout)
        }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        if ptr.is_null() {
            return System.alloc(Layout::from_size_align_unchecked(new_size, layout.align()));
        }
        System.realloc(ptr, layout, new_size)
    }
}

#[global_allocator]
static ALLOCATOR: NullTolerantAllocator = NullTolerantAllocator;

/// Every block carries its size in a 16-byte header so that `free` and `realloc`
/// can rebuild the layout.
const HEADER: usize = 16;

unsafe fn layout_for(size: usize) -> Option<Layout> {
    Layout::from_size_align(size.checked_add(HEADER)?, HEADER).ok()
}

#[no_mangle]
pub unsafe extern "C" fn malloc(size: usize) -> *mut c_void {
    let Some(layout) = layout_for(size) else {
        return core::ptr::null_mut();
    };
    let p = std::alloc::alloc(layout);
    if p.is_null() {
        return core::ptr::null_mut();
    }
    (p as *mut usize).write(size);
    p.add(HEADER) as *mut c_void
}

#[no_mangle]
pub unsafe extern "C" fn calloc(n: usize, size: usize) -> *mut c_void {
    let Some(total) = n.checked_mul(size) else {
        return core::ptr::null_mut();
    };
    let Some(layout) = layout_for(total) else {
        return core::ptr::null_mut();
    };
    let p = std::alloc::alloc_zeroed(layout);
    if p.is_null() {
        return core::ptr::null_mut();
    }
    (p as *mut usize).write(total);
    p.add(HEADER) as *mut c_void
}

#[no_mangle]
pub unsafe extern "C" fn free(ptr: *mut c_void) {
    if ptr.is_null() {
        return;
    }
    let base = (ptr as *mut u8).sub(HEADER);
    let size = (base as *const usize).read();
    std::alloc::dealloc(
        base,
        Layout::from_size_align_unchecked(size + HEADER, HEADER),
    );
}

#[no_mangle]
pub unsafe extern "C" fn realloc(ptr: *mut c_void, new_size: usize) -> *mut c_void {
    if ptr.is_null() {
        return malloc(new_size);
    }
    let base = (ptr as *mut u8).sub(HEADER);
    let old = (base as *const usize).read();
    let Some(new_total) = new_size.checked_add(HEADER) else {
        return core::ptr::null_mut();
    };
    let p = std::alloc::realloc(
        base,
        Layout::from_size_align_unchecked(old + HEADER, HEADER),
        new_total,
    );
    if p.is_null() {
        return core::ptr::null_mut();
    }
    (p as *mut usize).write(new_size);
    p.add(HEADER) as *mut c_void
}

#[no_mangle]
pub unsafe extern "C" fn strlen(s: *const c_char) -> usize {
    let mut n = 0;
    while *s.add(n) != 0 {
        n += 1;
    }
    n
}

#[no_mangle]
pub unsafe extern "C" fn strcpy(dst: *mut c_char, src: *const c_char) -> *mut c_char {
    let n = strlen(src);
    core::ptr::copy_nonoverlapping(src, dst, n + 1);
    dst
}

#[no_mangle]
pub unsafe extern "C" fn strncmp(a: *const c_char, b: *const c_char, n: usize) -> c_int {
    for i in 0..n {
        let (x, y) = (*a.add(i) as u8, *b.add(i) as u8);
        if x != y || x == 0 {
            return x as c_int - y as c_int;
        }
    }
    0
}

#[no_mangle]
pub unsafe extern "C" fn strcmp(a: *const c_char, b: *const c_char) -> c_int {
    strncmp(a, b, usize::MAX)
}

#[no_mangle]
pub unsafe extern "C" fn atoi(s: *const c_char) -> c_int {
    let mut i = 0;
    while (*s.add(i) as u8).is_ascii_whitespace() {
        i += 1;
    }
    let neg = *s.add(i) as u8 == b'-';
    if neg || *s.add(i) as u8 == b'+' {
        i += 1;
    }
    let mut v: c_int = 0;
    while (*s.add(i) as u8).is_ascii_digit() {
        v = v
            .wrapping_mul(10)
            .wrapping_add((*s.add(i) as u8 - b'0') as c_int);
        i += 1;
    }
    if neg {
        v.wrapping_neg()
    } else {
        v
    }
}

/// There is no environment in the browser: every variable is unset.
#[no_mangle]
pub unsafe extern "C" fn getenv(_name: *const c_char) -> *mut c_char {
    core::ptr::null_mut()
}
