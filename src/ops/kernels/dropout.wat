;; Dropout masks with WebAssembly SIMD, four draws at a time.
;;
;; Entry i of the mask is `scale` when draw i is below `threshold`, else 0. Draw i is the i-th output
;; of mulberry32 seeded with `seed` (util/random.ts; ops/dropout.ts has the same loop in JavaScript).
;; Its state before draw i is seed + (i + 1)·0x6d2b79f5, so four neighbouring draws are computed side
;; by side with the same 32-bit integer operations, and the mask equals the JavaScript one bit for bit.
;; `apply` multiplies x by the mask as it is drawn (the one multiplication per entry of a Multiply
;; kernel), so dropout needs no mask in memory, forward or backward; `mask` applies it to ones.
;; Given a residual r, `apply` also adds it: r + x·mask, the one addition of an Add kernel after
;; the multiplication (a residual connection around a sublayer and its dropout, in one pass).
(module
  (import "env" "memory" (memory 0))

  ;; out: byte offset of n float32 entries; threshold compared unsigned. The mask itself is
  ;; `apply` to ones: 1 · scale = scale and 1 · 0 = 0 exactly.
  (func (export "mask") (param $out i32) (param $n i32) (param $seed i32) (param $threshold i32) (param $scale f32)
    (local $p i32) (local $end i32)
    (local.set $p (local.get $out))
    (local.set $end (i32.add (local.get $out) (i32.shl (local.get $n) (i32.const 2))))
    (block $filled (loop $fill
      (br_if $filled (i32.ge_u (local.get $p) (local.get $end)))
      (f32.store (local.get $p) (f32.const 1))
      (local.set $p (i32.add (local.get $p) (i32.const 4)))
      (br $fill)))
    (call $apply (local.get $out) (local.get $out) (local.get $n) (local.get $seed) (local.get $threshold) (local.get $scale) (i32.const 0)))

  ;; out = x · mask, or with a residual r (its byte offset; 0 for none) out = r + x · mask, entry by
  ;; entry; x, r and out: byte offsets of n float32 entries (out may be x or r).
  (func $apply (export "apply") (param $x i32) (param $out i32) (param $n i32) (param $seed i32) (param $threshold i32) (param $scale f32) (param $r i32)
    (local $end i32) (local $state v128) (local $t v128) (local $step v128) (local $limit v128) (local $value v128) (local $v v128)
    (local $s i32) (local $u i32) (local $y f32)
    (local.set $state (i32x4.add (i32x4.splat (local.get $seed)) (v128.const i32x4 0x6d2b79f5 0xda56f3ea 0x47826ddf 0xb4ade7d4)))
    (local.set $step (i32x4.splat (i32.const 0xb4ade7d4)))
    (local.set $limit (i32x4.splat (local.get $threshold)))
    (local.set $value (f32x4.splat (local.get $scale)))
    (local.set $end (i32.add (local.get $out) (i32.shl (i32.and (local.get $n) (i32.const -4)) (i32.const 2))))
    (block $done4 (loop $loop4
      (br_if $done4 (i32.ge_u (local.get $out) (local.get $end)))
      (local.set $t (local.get $state))
      (local.set $t (i32x4.mul (v128.xor (local.get $t) (i32x4.shr_u (local.get $t) (i32.const 15))) (v128.or (local.get $t) (i32x4.splat (i32.const 1)))))
      (local.set $t (v128.xor (local.get $t)
        (i32x4.add (local.get $t) (i32x4.mul (v128.xor (local.get $t) (i32x4.shr_u (local.get $t) (i32.const 7))) (v128.or (local.get $t) (i32x4.splat (i32.const 61)))))))
      (local.set $v
        (f32x4.mul (v128.load align=4 (local.get $x))
          (v128.and (local.get $value) (i32x4.lt_u (v128.xor (local.get $t) (i32x4.shr_u (local.get $t) (i32.const 14))) (local.get $limit)))))
      (if (local.get $r)
        (then
          (local.set $v (f32x4.add (v128.load align=4 (local.get $r)) (local.get $v)))
          (local.set $r (i32.add (local.get $r) (i32.const 16)))))
      (v128.store align=4 (local.get $out) (local.get $v))
      (local.set $state (i32x4.add (local.get $state) (local.get $step)))
      (local.set $x (i32.add (local.get $x) (i32.const 16)))
      (local.set $out (i32.add (local.get $out) (i32.const 16)))
      (br $loop4)))
    (local.set $s (i32x4.extract_lane 0 (local.get $state)))
    (local.set $end (i32.add (local.get $end) (i32.shl (i32.and (local.get $n) (i32.const 3)) (i32.const 2))))
    (block $done1 (loop $loop1
      (br_if $done1 (i32.ge_u (local.get $out) (local.get $end)))
      (local.set $u (i32.mul (i32.xor (local.get $s) (i32.shr_u (local.get $s) (i32.const 15))) (i32.or (local.get $s) (i32.const 1))))
      (local.set $u (i32.xor (local.get $u)
        (i32.add (local.get $u) (i32.mul (i32.xor (local.get $u) (i32.shr_u (local.get $u) (i32.const 7))) (i32.or (local.get $u) (i32.const 61))))))
      (local.set $y
        (f32.mul (f32.load (local.get $x))
          (select (local.get $scale) (f32.const 0) (i32.lt_u (i32.xor (local.get $u) (i32.shr_u (local.get $u) (i32.const 14))) (local.get $threshold)))))
      (if (local.get $r)
        (then
          (local.set $y (f32.add (f32.load (local.get $r)) (local.get $y)))
          (local.set $r (i32.add (local.get $r) (i32.const 4)))))
      (f32.store (local.get $out) (local.get $y))
      (local.set $s (i32.add (local.get $s) (i32.const 0x6d2b79f5)))
      (local.set $x (i32.add (local.get $x) (i32.const 4)))
      (local.set $out (i32.add (local.get $out) (i32.const 4)))
      (br $loop1)))))
