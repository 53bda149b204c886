#![no_main]
libfuzzer_sys::fuzz_target!(|data: &[u8]| routewise_module::fuzz::dm_ffi(data));
