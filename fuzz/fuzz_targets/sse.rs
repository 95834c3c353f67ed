//! libFuzzer target: every property of `pllm_fuzz::check_sse` on arbitrary bytes.
#![no_main]
// The fuzz_target! macro defines the extern "C" entry point libFuzzer calls.
#![allow(unsafe_code)]

libfuzzer_sys::fuzz_target!(|data: &[u8]| pllm_fuzz::check_sse(data));
