;; The elementwise passes of scaled dot-product attention with WebAssembly SIMD, the softmax among
;; them (see kernels/attention.ts for the products around them). Scores, weights and their
;; gradients are `rows` rows of Tk floats, rows running over (B, H, Tq). Each value goes through the
;; same float32 operations, in the same order, as the tf ops of attention/scaled-dot-product.ts and
;; their gradients (one rounding per multiply, add or subtract; the row sum of the softmax gradient
;; taken one value at a time from 0, as the backend's Sum kernel takes it; the softmax as the
;; backend's Softmax kernel computes it, see "softmax"), so the results are the same to the bit. Pointers are byte offsets into the wasm backend's memory; the last Tk mod 4
;; values of a row go one at a time.
;;
;; The mask broadcasts to (B, H, Tq, Tk): its rows are Tk floats, and $mb, $mh, $mq are its byte
;; strides along B, H and Tq (0 along an axis it broadcasts over).
;;
;; The dropout multiplier is drawn where it is used, not stored: entry i of the (B, H, Tq, Tk) scores
;; is `scale` when draw i of mulberry32 seeded with `seed` is at most `limit` (unsigned), else 0 —
;; the integer operations of dropout.wat, so the values of the AtencaoDropoutMask kernel.
(module
  (import "env" "memory" (memory 0))

  ;; mulberry32's state step, and its output from a state (one draw; the loops draw four at a time
  ;; with the same operations on i32x4 lanes).
  (global $step i32 (i32.const 0x6d2b79f5))

  (func $draw (param $t i32) (result i32)
    (local.set $t (i32.mul (i32.xor (local.get $t) (i32.shr_u (local.get $t) (i32.const 15))) (i32.or (local.get $t) (i32.const 1))))
    (local.set $t (i32.xor (local.get $t)
      (i32.add (local.get $t) (i32.mul (i32.xor (local.get $t) (i32.shr_u (local.get $t) (i32.const 7))) (i32.or (local.get $t) (i32.const 61))))))
    (i32.xor (local.get $t) (i32.shr_u (local.get $t) (i32.const 14))))

  (func $drop1 (param $state i32) (param $limit i32) (param $scale f32) (result f32)
    (select (local.get $scale) (f32.const 0) (i32.le_u (call $draw (local.get $state)) (local.get $limit))))

  ;; The mask row of scores row `row` = (b·H + h)·Tq + i.
  (func $maskRow (param $row i32) (param $m i32) (param $nh i32) (param $nq i32) (param $mb i32) (param $mh i32) (param $mq i32) (result i32)
    (local $bh i32)
    (local.set $bh (i32.div_u (local.get $row) (local.get $nq)))
    (i32.add (local.get $m)
      (i32.add (i32.mul (i32.rem_u (local.get $row) (local.get $nq)) (local.get $mq))
        (i32.add (i32.mul (i32.rem_u (local.get $bh) (local.get $nh)) (local.get $mh))
          (i32.mul (i32.div_u (local.get $bh) (local.get $nh)) (local.get $mb))))))

  ;; Causal attention: row `row` = (b·H + h)·Tq + i of the scores sees keys 0 … i + off
  ;; (off = Tk − Tq): how many, clamped to 0 … Tk.
  (func $seen (param $row i32) (param $tk i32) (param $nq i32) (param $off i32) (result i32)
    (local $n i32)
    (local.set $n (i32.add (i32.add (i32.rem_u (local.get $row) (local.get $nq)) (local.get $off)) (i32.const 1)))
    (local.set $n (select (i32.const 0) (local.get $n) (i32.lt_s (local.get $n) (i32.const 0))))
    (select (local.get $tk) (local.get $n) (i32.gt_s (local.get $n) (local.get $tk))))

  ;; Zeros after the keys each of `rows` rows of Tk floats sees (the causal products leave those
  ;; entries unwritten, see kernels/attention.ts).
  (func (export "zeroTail") (param $p i32) (param $rows i32) (param $tk i32) (param $nq i32) (param $off i32)
    (local $row i32) (local $bytes i32)
    (local.set $bytes (i32.shl (local.get $tk) (i32.const 2)))
    (block $done (loop $rowLoop
      (br_if $done (i32.ge_u (local.get $row) (local.get $rows)))
      (call $zero (local.get $p) (i32.shl (call $seen (local.get $row) (local.get $tk) (local.get $nq) (local.get $off)) (i32.const 2)) (local.get $bytes))
      (local.set $p (i32.add (local.get $p) (local.get $bytes)))
      (local.set $row (i32.add (local.get $row) (i32.const 1)))
      (br $rowLoop))))

  ;; The entries of row `row` worth computing: all Tk, or with $causal the keys it sees ($seen),
  ;; rounded up to a multiple of 4 (at most Tk). The rest are 0 to start with and stay 0.
  (func $visible (param $row i32) (param $tk i32) (param $nq i32) (param $causal i32) (param $off i32) (result i32)
    (local $n i32)
    (if (i32.eqz (local.get $causal)) (then (return (local.get $tk))))
    (local.set $n (i32.and (i32.add (call $seen (local.get $row) (local.get $tk) (local.get $nq) (local.get $off)) (i32.const 3)) (i32.const -4)))
    (select (local.get $tk) (local.get $n) (i32.gt_s (local.get $n) (local.get $tk))))

  ;; Zeros at bytes $from … $to of $p.
  (func $zero (param $p i32) (param $from i32) (param $to i32)
    (block $d4 (loop $l4
      (br_if $d4 (i32.gt_u (i32.add (local.get $from) (i32.const 16)) (local.get $to)))
      (v128.store align=4 (i32.add (local.get $p) (local.get $from)) (v128.const i32x4 0 0 0 0))
      (local.set $from (i32.add (local.get $from) (i32.const 16)))
      (br $l4)))
    (block $d1 (loop $l1
      (br_if $d1 (i32.ge_u (local.get $from) (local.get $to)))
      (f32.store (i32.add (local.get $p) (local.get $from)) (f32.const 0))
      (local.set $from (i32.add (local.get $from) (i32.const 4)))
      (br $l1))))

;; In place, entries $from … $to (bytes, $from a multiple of 16) of a row of scores: x = s·c,
  ;; then, where $masked (q the row's mask), x = x + (1 − m)·(−1e9). Returns the largest of $max
  ;; and the new values.
  (func $prepare (param $p i32) (param $q i32) (param $from i32) (param $to i32) (param $c f32) (param $masked i32) (param $max f32) (result f32)
    (local $j i32) (local $end4 i32) (local $x v128) (local $y f32) (local $mv v128)
    (local.set $mv (f32x4.splat (local.get $max)))
    (local.set $end4 (i32.and (local.get $to) (i32.const -16)))
    (local.set $j (local.get $from))
    (block $d4 (loop $l4
      (br_if $d4 (i32.ge_u (local.get $j) (local.get $end4)))
      (local.set $x (f32x4.mul (v128.load align=4 (i32.add (local.get $p) (local.get $j))) (f32x4.splat (local.get $c))))
      (if (local.get $masked)
        (then (local.set $x (f32x4.add (local.get $x)
          (f32x4.mul (f32x4.sub (f32x4.splat (f32.const 1)) (v128.load align=4 (i32.add (local.get $q) (local.get $j)))) (f32x4.splat (f32.const -1e9)))))))
      (v128.store align=4 (i32.add (local.get $p) (local.get $j)) (local.get $x))
      (local.set $mv (f32x4.pmax (local.get $mv) (local.get $x)))
      (local.set $j (i32.add (local.get $j) (i32.const 16)))
      (br $l4)))
    (local.set $mv (f32x4.pmax (local.get $mv) (i8x16.shuffle 8 9 10 11 12 13 14 15 0 1 2 3 4 5 6 7 (local.get $mv) (local.get $mv))))
    (local.set $mv (f32x4.pmax (local.get $mv) (i8x16.shuffle 4 5 6 7 0 1 2 3 4 5 6 7 0 1 2 3 (local.get $mv) (local.get $mv))))
    (local.set $max (f32x4.extract_lane 0 (local.get $mv)))
    (block $d1 (loop $l1
      (br_if $d1 (i32.ge_u (local.get $j) (local.get $to)))
      (local.set $y (f32.mul (f32.load (i32.add (local.get $p) (local.get $j))) (local.get $c)))
      (if (local.get $masked)
        (then (local.set $y (f32.add (local.get $y) (f32.mul (f32.sub (f32.const 1) (f32.load (i32.add (local.get $q) (local.get $j)))) (f32.const -1e9))))))
      (f32.store (i32.add (local.get $p) (local.get $j)) (local.get $y))
      (local.set $max (select (local.get $y) (local.get $max) (f32.gt (local.get $y) (local.get $max))))
      (local.set $j (i32.add (local.get $j) (i32.const 4)))
      (br $l1)))
    (local.get $max))

  ;; e^x for x ≤ 0, four at a time, with the float operations of the wasm backend's Softmax kernel
  ;; (XNNPACK's f32 raddstoreexpminusmax, wasmsimd rr2_p5): n = round(x·log2 e) by the magic-bias
  ;; trick, 2^n from n's bits, t = x − n·ln 2 in two parts, a degree-5 polynomial in t; 0 below
  ;; the smallest normal result.
  (func $exp (param $x v128) (result v128)
    (local $n v128) (local $s v128) (local $t v128) (local $p v128)
    (local.set $n (f32x4.add (f32x4.mul (local.get $x) (v128.const i32x4 0x3fb8aa3b 0x3fb8aa3b 0x3fb8aa3b 0x3fb8aa3b))
      (v128.const i32x4 0x4b40007f 0x4b40007f 0x4b40007f 0x4b40007f)))
    (local.set $s (i32x4.shl (local.get $n) (i32.const 23)))
    (local.set $n (f32x4.sub (local.get $n) (v128.const i32x4 0x4b40007f 0x4b40007f 0x4b40007f 0x4b40007f)))
    (local.set $t (f32x4.add
      (f32x4.add (local.get $x) (f32x4.mul (local.get $n) (v128.const i32x4 0xbf317200 0xbf317200 0xbf317200 0xbf317200)))
      (f32x4.mul (local.get $n) (v128.const i32x4 0xb5bfbe8e 0xb5bfbe8e 0xb5bfbe8e 0xb5bfbe8e))))
    (local.set $p (f32x4.add (f32x4.mul (local.get $t) (v128.const i32x4 0x3c07cfce 0x3c07cfce 0x3c07cfce 0x3c07cfce))
      (v128.const i32x4 0x3d2b9d0d 0x3d2b9d0d 0x3d2b9d0d 0x3d2b9d0d)))
    (local.set $p (f32x4.add (f32x4.mul (local.get $p) (local.get $t)) (v128.const i32x4 0x3e2aad40 0x3e2aad40 0x3e2aad40 0x3e2aad40)))
    (local.set $p (f32x4.add (f32x4.mul (local.get $p) (local.get $t)) (v128.const i32x4 0x3efffee3 0x3efffee3 0x3efffee3 0x3efffee3)))
    (local.set $p (f32x4.add (f32x4.mul (local.get $p) (local.get $t)) (v128.const i32x4 0x3f7ffffb 0x3f7ffffb 0x3f7ffffb 0x3f7ffffb)))
    (v128.bitselect (v128.const i32x4 0 0 0 0)
      (f32x4.add (f32x4.mul (f32x4.mul (local.get $t) (local.get $s)) (local.get $p)) (local.get $s))
      (f32x4.lt (local.get $x) (v128.const i32x4 0xc2aeac4f 0xc2aeac4f 0xc2aeac4f 0xc2aeac4f))))

  ;; In place, the first $n entries of a row of $tk: e = exp(x − max), returning their sum as the
  ;; backend's kernel takes it (entry j into lane j mod 4, each lane in order from 0, the lanes
  ;; as (l0 + l2) + (l1 + l3), then the last Tk mod 4 entries one at a time). Sixteen entries go
  ;; at a time, four exps written out side by side ($exp's operations, with its constants in
  ;; locals): a call is not inlined, and four independent chains ran the row 1.5× faster than one.
  (func $expRow (param $p i32) (param $n i32) (param $tk i32) (param $max f32) (result f32)
    (local $j i32) (local $lanes i32) (local $lanesU i32) (local $end i32) (local $e v128) (local $acc v128) (local $mv v128) (local $sum f32)
    (local $log2e v128) (local $magic v128) (local $ln2hi v128) (local $ln2lo v128) (local $c5 v128) (local $c4 v128) (local $c3 v128) (local $c2 v128) (local $c1 v128) (local $cutoff v128)
    (local $x0 v128) (local $n0 v128) (local $s0 v128) (local $t0 v128) (local $p0 v128)
    (local $x1 v128) (local $n1 v128) (local $s1 v128) (local $t1 v128) (local $p1 v128)
    (local $x2 v128) (local $n2 v128) (local $s2 v128) (local $t2 v128) (local $p2 v128)
    (local $x3 v128) (local $n3 v128) (local $s3 v128) (local $t3 v128) (local $p3 v128)
    (local.set $log2e (v128.const i32x4 0x3fb8aa3b 0x3fb8aa3b 0x3fb8aa3b 0x3fb8aa3b))
    (local.set $magic (v128.const i32x4 0x4b40007f 0x4b40007f 0x4b40007f 0x4b40007f))
    (local.set $ln2hi (v128.const i32x4 0xbf317200 0xbf317200 0xbf317200 0xbf317200))
    (local.set $ln2lo (v128.const i32x4 0xb5bfbe8e 0xb5bfbe8e 0xb5bfbe8e 0xb5bfbe8e))
    (local.set $c5 (v128.const i32x4 0x3c07cfce 0x3c07cfce 0x3c07cfce 0x3c07cfce))
    (local.set $c4 (v128.const i32x4 0x3d2b9d0d 0x3d2b9d0d 0x3d2b9d0d 0x3d2b9d0d))
    (local.set $c3 (v128.const i32x4 0x3e2aad40 0x3e2aad40 0x3e2aad40 0x3e2aad40))
    (local.set $c2 (v128.const i32x4 0x3efffee3 0x3efffee3 0x3efffee3 0x3efffee3))
    (local.set $c1 (v128.const i32x4 0x3f7ffffb 0x3f7ffffb 0x3f7ffffb 0x3f7ffffb))
    (local.set $cutoff (v128.const i32x4 0xc2aeac4f 0xc2aeac4f 0xc2aeac4f 0xc2aeac4f))
    (local.set $mv (f32x4.splat (local.get $max)))
    (local.set $lanes (i32.shl (i32.and (local.get $tk) (i32.const -4)) (i32.const 2)))
    (local.set $end (i32.shl (local.get $n) (i32.const 2)))
    (local.set $lanes (select (local.get $end) (local.get $lanes) (i32.lt_u (local.get $end) (local.get $lanes))))
    (local.set $lanesU (i32.sub (local.get $lanes) (i32.and (local.get $lanes) (i32.const 63))))
    (block $dU (loop $lU
      (br_if $dU (i32.ge_u (local.get $j) (local.get $lanesU)))
      (local.set $x0 (f32x4.sub (v128.load offset=0 align=4 (i32.add (local.get $p) (local.get $j))) (local.get $mv)))
      (local.set $x1 (f32x4.sub (v128.load offset=16 align=4 (i32.add (local.get $p) (local.get $j))) (local.get $mv)))
      (local.set $x2 (f32x4.sub (v128.load offset=32 align=4 (i32.add (local.get $p) (local.get $j))) (local.get $mv)))
      (local.set $x3 (f32x4.sub (v128.load offset=48 align=4 (i32.add (local.get $p) (local.get $j))) (local.get $mv)))
      (local.set $n0 (f32x4.add (f32x4.mul (local.get $x0) (local.get $log2e)) (local.get $magic)))
      (local.set $s0 (i32x4.shl (local.get $n0) (i32.const 23)))
      (local.set $n0 (f32x4.sub (local.get $n0) (local.get $magic)))
      (local.set $t0 (f32x4.add (f32x4.add (local.get $x0) (f32x4.mul (local.get $n0) (local.get $ln2hi))) (f32x4.mul (local.get $n0) (local.get $ln2lo))))
      (local.set $p0 (f32x4.add (f32x4.mul (local.get $t0) (local.get $c5)) (local.get $c4)))
      (local.set $p0 (f32x4.add (f32x4.mul (local.get $p0) (local.get $t0)) (local.get $c3)))
      (local.set $p0 (f32x4.add (f32x4.mul (local.get $p0) (local.get $t0)) (local.get $c2)))
      (local.set $p0 (f32x4.add (f32x4.mul (local.get $p0) (local.get $t0)) (local.get $c1)))
      (local.set $x0 (v128.andnot (f32x4.add (f32x4.mul (f32x4.mul (local.get $t0) (local.get $s0)) (local.get $p0)) (local.get $s0)) (f32x4.lt (local.get $x0) (local.get $cutoff))))
      (local.set $n1 (f32x4.add (f32x4.mul (local.get $x1) (local.get $log2e)) (local.get $magic)))
      (local.set $s1 (i32x4.shl (local.get $n1) (i32.const 23)))
      (local.set $n1 (f32x4.sub (local.get $n1) (local.get $magic)))
      (local.set $t1 (f32x4.add (f32x4.add (local.get $x1) (f32x4.mul (local.get $n1) (local.get $ln2hi))) (f32x4.mul (local.get $n1) (local.get $ln2lo))))
      (local.set $p1 (f32x4.add (f32x4.mul (local.get $t1) (local.get $c5)) (local.get $c4)))
      (local.set $p1 (f32x4.add (f32x4.mul (local.get $p1) (local.get $t1)) (local.get $c3)))
      (local.set $p1 (f32x4.add (f32x4.mul (local.get $p1) (local.get $t1)) (local.get $c2)))
      (local.set $p1 (f32x4.add (f32x4.mul (local.get $p1) (local.get $t1)) (local.get $c1)))
      (local.set $x1 (v128.andnot (f32x4.add (f32x4.mul (f32x4.mul (local.get $t1) (local.get $s1)) (local.get $p1)) (local.get $s1)) (f32x4.lt (local.get $x1) (local.get $cutoff))))
      (local.set $n2 (f32x4.add (f32x4.mul (local.get $x2) (local.get $log2e)) (local.get $magic)))
      (local.set $s2 (i32x4.shl (local.get $n2) (i32.const 23)))
      (local.set $n2 (f32x4.sub (local.get $n2) (local.get $magic)))
      (local.set $t2 (f32x4.add (f32x4.add (local.get $x2) (f32x4.mul (local.get $n2) (local.get $ln2hi))) (f32x4.mul (local.get $n2) (local.get $ln2lo))))
      (local.set $p2 (f32x4.add (f32x4.mul (local.get $t2) (local.get $c5)) (local.get $c4)))
      (local.set $p2 (f32x4.add (f32x4.mul (local.get $p2) (local.get $t2)) (local.get $c3)))
      (local.set $p2 (f32x4.add (f32x4.mul (local.get $p2) (local.get $t2)) (local.get $c2)))
      (local.set $p2 (f32x4.add (f32x4.mul (local.get $p2) (local.get $t2)) (local.get $c1)))
      (local.set $x2 (v128.andnot (f32x4.add (f32x4.mul (f32x4.mul (local.get $t2) (local.get $s2)) (local.get $p2)) (local.get $s2)) (f32x4.lt (local.get $x2) (local.get $cutoff))))
      (local.set $n3 (f32x4.add (f32x4.mul (local.get $x3) (local.get $log2e)) (local.get $magic)))
      (local.set $s3 (i32x4.shl (local.get $n3) (i32.const 23)))
      (local.set $n3 (f32x4.sub (local.get $n3) (local.get $magic)))
      (local.set $t3 (f32x4.add (f32x4.add (local.get $x3) (f32x4.mul (local.get $n3) (local.get $ln2hi))) (f32x4.mul (local.get $n3) (local.get $ln2lo))))
      (local.set $p3 (f32x4.add (f32x4.mul (local.get $t3) (local.get $c5)) (local.get $c4)))
      (local.set $p3 (f32x4.add (f32x4.mul (local.get $p3) (local.get $t3)) (local.get $c3)))
      (local.set $p3 (f32x4.add (f32x4.mul (local.get $p3) (local.get $t3)) (local.get $c2)))
      (local.set $p3 (f32x4.add (f32x4.mul (local.get $p3) (local.get $t3)) (local.get $c1)))
      (local.set $x3 (v128.andnot (f32x4.add (f32x4.mul (f32x4.mul (local.get $t3) (local.get $s3)) (local.get $p3)) (local.get $s3)) (f32x4.lt (local.get $x3) (local.get $cutoff))))
      (v128.store offset=0 align=4 (i32.add (local.get $p) (local.get $j)) (local.get $x0))
      (v128.store offset=16 align=4 (i32.add (local.get $p) (local.get $j)) (local.get $x1))
      (v128.store offset=32 align=4 (i32.add (local.get $p) (local.get $j)) (local.get $x2))
      (v128.store offset=48 align=4 (i32.add (local.get $p) (local.get $j)) (local.get $x3))
      (local.set $acc (f32x4.add (f32x4.add (f32x4.add (f32x4.add (local.get $acc) (local.get $x0)) (local.get $x1)) (local.get $x2)) (local.get $x3)))
      (local.set $j (i32.add (local.get $j) (i32.const 64)))
      (br $lU)))
    (block $d4 (loop $l4
      (br_if $d4 (i32.ge_u (local.get $j) (local.get $lanes)))
      (local.set $e (call $exp (f32x4.sub (v128.load align=4 (i32.add (local.get $p) (local.get $j))) (local.get $mv))))
      (v128.store align=4 (i32.add (local.get $p) (local.get $j)) (local.get $e))
      (local.set $acc (f32x4.add (local.get $acc) (local.get $e)))
      (local.set $j (i32.add (local.get $j) (i32.const 16)))
      (br $l4)))
    (local.set $sum (f32.add
      (f32.add (f32x4.extract_lane 0 (local.get $acc)) (f32x4.extract_lane 2 (local.get $acc)))
      (f32.add (f32x4.extract_lane 1 (local.get $acc)) (f32x4.extract_lane 3 (local.get $acc)))))
    (block $d1 (loop $l1
      (br_if $d1 (i32.ge_u (local.get $j) (local.get $end)))
      (local.set $e (call $exp (f32x4.splat (f32.sub (f32.load (i32.add (local.get $p) (local.get $j))) (local.get $max)))))
      (f32.store (i32.add (local.get $p) (local.get $j)) (f32x4.extract_lane 0 (local.get $e)))
      (local.set $sum (f32.add (local.get $sum) (f32x4.extract_lane 0 (local.get $e))))
      (local.set $j (i32.add (local.get $j) (i32.const 4)))
      (br $l1)))
    (local.get $sum))

  ;; In place, the first $n entries of a row: w = e·k.
  (func $scaleRow (param $p i32) (param $n i32) (param $k f32)
    (local $j i32) (local $end i32) (local $end4 i32) (local $kv v128)
    (local.set $kv (f32x4.splat (local.get $k)))
    (local.set $end (i32.shl (local.get $n) (i32.const 2)))
    (local.set $end4 (i32.and (local.get $end) (i32.const -16)))
    (block $d4 (loop $l4
      (br_if $d4 (i32.ge_u (local.get $j) (local.get $end4)))
      (v128.store align=4 (i32.add (local.get $p) (local.get $j)) (f32x4.mul (v128.load align=4 (i32.add (local.get $p) (local.get $j))) (local.get $kv)))
      (local.set $j (i32.add (local.get $j) (i32.const 16)))
      (br $l4)))
    (block $d1 (loop $l1
      (br_if $d1 (i32.ge_u (local.get $j) (local.get $end)))
      (f32.store (i32.add (local.get $p) (local.get $j)) (f32.mul (f32.load (i32.add (local.get $p) (local.get $j))) (local.get $k)))
      (local.set $j (i32.add (local.get $j) (i32.const 4)))
      (br $l1))))

  ;; The attention weights from the raw scores Q·Kᵀ, in place, row by row: x = s·c, then, where
  ;; $masked, x = x + (1 − m)·(−1e9), then w = softmax(x) with the float operations of the
  ;; backend's Softmax kernel: the row's maximum, e = exp(x − max) summed as that kernel sums
  ;; them ($expRow), then w = e·(1/sum) (its last step clamps to ±∞, which changes no number).
  ;; Where $writeA, also the attended weights a = w·m·drop of the row ($weightsRow).
  ;; With $causal (and a mask) a row stops after the keys it sees ($visible): the scores of the
  ;; keys hidden from it are 0 (kernels/attention.ts), so their x is −1e9 and their e is exactly
  ;; 0 whenever −1e9 − max is below the exp's cutoff; such entries are left 0 and do not change the
  ;; sum. A row where they would not be 0 (every key it sees masked too) is computed whole.
  (func (export "softmax") (param $s i32) (param $a i32) (param $rows i32) (param $tk i32) (param $c f32)
    (param $dropped i32) (param $seed i32) (param $limit i32) (param $scale f32) (param $writeA i32)
    (param $masked i32) (param $m i32) (param $nh i32) (param $nq i32) (param $mb i32) (param $mh i32) (param $mq i32)
    (param $causal i32) (param $off i32)
    (local $row i32) (local $q i32) (local $n i32) (local $bytes i32) (local $max f32)
    (local.set $bytes (i32.shl (local.get $tk) (i32.const 2)))
    (block $done (loop $rowLoop
      (br_if $done (i32.ge_u (local.get $row) (local.get $rows)))
      (if (local.get $masked)
        (then (local.set $q (call $maskRow (local.get $row) (local.get $m) (local.get $nh) (local.get $nq) (local.get $mb) (local.get $mh) (local.get $mq)))))
      (local.set $n (call $visible (local.get $row) (local.get $tk) (local.get $nq) (local.get $causal) (local.get $off)))
      (local.set $max (call $prepare (local.get $s) (local.get $q) (i32.const 0) (i32.shl (local.get $n) (i32.const 2)) (local.get $c) (local.get $masked) (f32.const -inf)))
      (if (i32.lt_u (local.get $n) (local.get $tk))
        (then
          (if (i32.eqz (f32.lt (f32.sub (f32.const -1e9) (f32.max (local.get $max) (f32.const -1e9))) (f32.reinterpret_i32 (i32.const 0xc2aeac4f))))
            (then
              (local.set $max (call $prepare (local.get $s) (local.get $q) (i32.shl (local.get $n) (i32.const 2)) (local.get $bytes) (local.get $c) (local.get $masked) (local.get $max)))
              (local.set $n (local.get $tk))))))
      (call $scaleRow (local.get $s) (local.get $n)
        (f32.div (f32.const 1) (call $expRow (local.get $s) (local.get $n) (local.get $tk) (local.get $max))))
      ;; draws are numbered through the whole (B, H, Tq, Tk), from the row's first
      (if (local.get $writeA)
        (then
          (call $weightsRow (local.get $a) (local.get $s) (call $visible (local.get $row) (local.get $tk) (local.get $nq) (local.get $causal) (local.get $off)) (local.get $tk)
            (i32.add (i32.add (local.get $seed) (global.get $step)) (i32.mul (i32.mul (local.get $row) (local.get $tk)) (global.get $step)))
            (local.get $dropped) (local.get $limit) (local.get $scale) (local.get $masked) (local.get $q))
          (local.set $a (i32.add (local.get $a) (local.get $bytes)))))
      (local.set $s (i32.add (local.get $s) (local.get $bytes)))
      (local.set $row (i32.add (local.get $row) (i32.const 1)))
      (br $rowLoop))))

;; The first $end entries of a row of attended weights a = w·m where $masked (q the row's mask),
  ;; then ·drop where $dropped ($state the row's first draw); the rest of its $tk are 0.
  (func $weightsRow (param $a i32) (param $w i32) (param $end i32) (param $tk i32) (param $state i32)
    (param $dropped i32) (param $limit i32) (param $scale f32) (param $masked i32) (param $q i32)
    (local $j i32) (local $bytes4 i32) (local $x v128) (local $y f32) (local $t v128) (local $limitv v128) (local $scalev v128)
    (local.set $limitv (i32x4.splat (local.get $limit)))
    (local.set $scalev (f32x4.splat (local.get $scale)))
    (local.set $bytes4 (i32.shl (i32.and (local.get $end) (i32.const -4)) (i32.const 2)))
    (local.set $end (i32.shl (local.get $end) (i32.const 2)))
    (block $d4 (loop $l4
      (br_if $d4 (i32.ge_u (local.get $j) (local.get $bytes4)))
      (local.set $x (v128.load align=4 (i32.add (local.get $w) (local.get $j))))
      (if (local.get $masked) (then (local.set $x (f32x4.mul (local.get $x) (v128.load align=4 (i32.add (local.get $q) (local.get $j)))))))
      (if (local.get $dropped)
        (then
          ;; the multipliers of draws i … i + 3 (dropout.wat's integer operations)
          (local.set $t (i32x4.add (i32x4.splat (local.get $state)) (v128.const i32x4 0 0x6d2b79f5 0xda56f3ea 0x47826ddf)))
          (local.set $t (i32x4.mul (v128.xor (local.get $t) (i32x4.shr_u (local.get $t) (i32.const 15))) (v128.or (local.get $t) (i32x4.splat (i32.const 1)))))
          (local.set $t (v128.xor (local.get $t)
            (i32x4.add (local.get $t) (i32x4.mul (v128.xor (local.get $t) (i32x4.shr_u (local.get $t) (i32.const 7))) (v128.or (local.get $t) (i32x4.splat (i32.const 61)))))))
          (local.set $x (f32x4.mul (local.get $x)
            (v128.and (local.get $scalev) (i32x4.le_u (v128.xor (local.get $t) (i32x4.shr_u (local.get $t) (i32.const 14))) (local.get $limitv)))))))
      (v128.store align=4 (i32.add (local.get $a) (local.get $j)) (local.get $x))
      (local.set $state (i32.add (local.get $state) (i32.const 0xb4ade7d4)))
      (local.set $j (i32.add (local.get $j) (i32.const 16)))
      (br $l4)))
    (block $d1 (loop $l1
      (br_if $d1 (i32.ge_u (local.get $j) (local.get $end)))
      (local.set $y (f32.load (i32.add (local.get $w) (local.get $j))))
      (if (local.get $masked) (then (local.set $y (f32.mul (local.get $y) (f32.load (i32.add (local.get $q) (local.get $j)))))))
      (if (local.get $dropped) (then (local.set $y (f32.mul (local.get $y) (call $drop1 (local.get $state) (local.get $limit) (local.get $scale))))))
      (f32.store (i32.add (local.get $a) (local.get $j)) (local.get $y))
      (local.set $state (i32.add (local.get $state) (global.get $step)))
      (local.set $j (i32.add (local.get $j) (i32.const 4)))
      (br $l1)))
    (call $zero (local.get $a) (local.get $end) (i32.shl (local.get $tk) (i32.const 2))))

  ;; The first $tk entries of a row of the gradient's first pass, in place: t = ((g·drop)·m)·w (each
  ;; product only where it applies: the gradients of the two products, then the softmax's dy·y);
  ;; where $writeA, also the attended weights a = (w·m)·drop. $q is the row's mask, $state its first
  ;; draw's.
  (func $gradRow (param $g i32) (param $w i32) (param $a i32) (param $tk i32) (param $state i32)
    (param $dropped i32) (param $limit i32) (param $scale f32) (param $writeA i32) (param $masked i32) (param $q i32)
    (local $j i32) (local $bytes i32) (local $bytes4 i32)
    (local $x v128) (local $y v128) (local $mv v128) (local $dv v128) (local $xs f32) (local $ys f32) (local $ms f32) (local $ds f32)
    (local $t v128) (local $limitv v128) (local $scalev v128)
    (local.set $limitv (i32x4.splat (local.get $limit)))
    (local.set $scalev (f32x4.splat (local.get $scale)))
    (local.set $bytes (i32.shl (local.get $tk) (i32.const 2)))
    (local.set $bytes4 (i32.shl (i32.and (local.get $tk) (i32.const -4)) (i32.const 2)))
    (block $d4 (loop $l4
      (br_if $d4 (i32.ge_u (local.get $j) (local.get $bytes4)))
      (local.set $x (v128.load align=4 (i32.add (local.get $g) (local.get $j))))
      (local.set $y (v128.load align=4 (i32.add (local.get $w) (local.get $j))))
      (if (local.get $dropped)
        (then
          (local.set $t (i32x4.add (i32x4.splat (local.get $state)) (v128.const i32x4 0 0x6d2b79f5 0xda56f3ea 0x47826ddf)))
          (local.set $t (i32x4.mul (v128.xor (local.get $t) (i32x4.shr_u (local.get $t) (i32.const 15))) (v128.or (local.get $t) (i32x4.splat (i32.const 1)))))
          (local.set $t (v128.xor (local.get $t)
            (i32x4.add (local.get $t) (i32x4.mul (v128.xor (local.get $t) (i32x4.shr_u (local.get $t) (i32.const 7))) (v128.or (local.get $t) (i32x4.splat (i32.const 61)))))))
          (local.set $dv (v128.and (local.get $scalev) (i32x4.le_u (v128.xor (local.get $t) (i32x4.shr_u (local.get $t) (i32.const 14))) (local.get $limitv))))
          (local.set $x (f32x4.mul (local.get $x) (local.get $dv)))))
      (if (local.get $masked)
        (then
          (local.set $mv (v128.load align=4 (i32.add (local.get $q) (local.get $j))))
          (local.set $x (f32x4.mul (local.get $x) (local.get $mv)))))
      (v128.store align=4 (i32.add (local.get $g) (local.get $j)) (f32x4.mul (local.get $x) (local.get $y)))
      (if (local.get $writeA)
        (then
          (if (local.get $masked) (then (local.set $y (f32x4.mul (local.get $y) (local.get $mv)))))
          (if (local.get $dropped) (then (local.set $y (f32x4.mul (local.get $y) (local.get $dv)))))
          (v128.store align=4 (i32.add (local.get $a) (local.get $j)) (local.get $y))))
      (local.set $state (i32.add (local.get $state) (i32.const 0xb4ade7d4)))
      (local.set $j (i32.add (local.get $j) (i32.const 16)))
      (br $l4)))
    (block $d1 (loop $l1
      (br_if $d1 (i32.ge_u (local.get $j) (local.get $bytes)))
      (local.set $xs (f32.load (i32.add (local.get $g) (local.get $j))))
      (local.set $ys (f32.load (i32.add (local.get $w) (local.get $j))))
      (if (local.get $dropped)
        (then
          (local.set $ds (call $drop1 (local.get $state) (local.get $limit) (local.get $scale)))
          (local.set $xs (f32.mul (local.get $xs) (local.get $ds)))))
      (if (local.get $masked)
        (then
          (local.set $ms (f32.load (i32.add (local.get $q) (local.get $j))))
          (local.set $xs (f32.mul (local.get $xs) (local.get $ms)))))
      (f32.store (i32.add (local.get $g) (local.get $j)) (f32.mul (local.get $xs) (local.get $ys)))
      (if (local.get $writeA)
        (then
          (if (local.get $masked) (then (local.set $ys (f32.mul (local.get $ys) (local.get $ms)))))
          (if (local.get $dropped) (then (local.set $ys (f32.mul (local.get $ys) (local.get $ds)))))
          (f32.store (i32.add (local.get $a) (local.get $j)) (local.get $ys))))
      (local.set $state (i32.add (local.get $state) (global.get $step)))
      (local.set $j (i32.add (local.get $j) (i32.const 4)))
      (br $l1))))

  ;; One row of the gradient's last pass, in place: g = (t − Σt·w)·c (the rest of the softmax's
  ;; gradient, then the scaling's).
  (func $finishRow (param $g i32) (param $w i32) (param $tk i32) (param $sum f32) (param $c f32)
    (local $j i32) (local $bytes i32) (local $bytes4 i32) (local $sv v128) (local $cv v128)
    (local.set $bytes (i32.shl (local.get $tk) (i32.const 2)))
    (local.set $bytes4 (i32.shl (i32.and (local.get $tk) (i32.const -4)) (i32.const 2)))
    (local.set $sv (f32x4.splat (local.get $sum)))
    (local.set $cv (f32x4.splat (local.get $c)))
    (block $d4 (loop $l4
      (br_if $d4 (i32.ge_u (local.get $j) (local.get $bytes4)))
      (v128.store align=4 (i32.add (local.get $g) (local.get $j))
        (f32x4.mul
          (f32x4.sub (v128.load align=4 (i32.add (local.get $g) (local.get $j))) (f32x4.mul (local.get $sv) (v128.load align=4 (i32.add (local.get $w) (local.get $j)))))
          (local.get $cv)))
      (local.set $j (i32.add (local.get $j) (i32.const 16)))
      (br $l4)))
    (block $d1 (loop $l1
      (br_if $d1 (i32.ge_u (local.get $j) (local.get $bytes)))
      (f32.store (i32.add (local.get $g) (local.get $j))
        (f32.mul
          (f32.sub (f32.load (i32.add (local.get $g) (local.get $j))) (f32.mul (local.get $sum) (f32.load (i32.add (local.get $w) (local.get $j)))))
          (local.get $c)))
      (local.set $j (i32.add (local.get $j) (i32.const 4)))
      (br $l1))))

  ;; From the gradient g of the attended weights to that of the scores Q·Kᵀ, in place, with w the
  ;; softmax output; where $writeA, also writes the attended weights a as "weights" does. Each row
  ;; sum Σt is a chain of dependent additions, so the rows go four at a time, summed side by side.
  ;; With $causal (and a mask), g is 0 at the keys hidden from a row (kernels/attention.ts): they
  ;; are neither read nor written (t and the gradient would be 0 there), and a is 0 there.
  (func (export "backward") (param $g i32) (param $w i32) (param $a i32) (param $rows i32) (param $tk i32) (param $c f32)
    (param $dropped i32) (param $seed i32) (param $limit i32) (param $scale f32) (param $writeA i32)
    (param $masked i32) (param $m i32) (param $nh i32) (param $nq i32) (param $mb i32) (param $mh i32) (param $mq i32)
    (param $causal i32) (param $off i32)
    (local $row i32) (local $n i32) (local $i i32) (local $j i32) (local $p i32) (local $bytes i32) (local $q i32) (local $len i32) (local $most i32)
    (local $s0 f32) (local $s1 f32) (local $s2 f32) (local $s3 f32)
    (local.set $bytes (i32.shl (local.get $tk) (i32.const 2)))
    (block $done (loop $rowLoop
      (br_if $done (i32.ge_u (local.get $row) (local.get $rows)))
      ;; four rows at a time, the last rows mod 4 one at a time
      (local.set $n (select (i32.const 4) (i32.const 1) (i32.le_u (i32.add (local.get $row) (i32.const 4)) (local.get $rows))))
      ;; t of the block's rows
      (local.set $i (i32.const 0))
      (local.set $most (i32.const 0))
      (block $d (loop $l
        (br_if $d (i32.ge_u (local.get $i) (local.get $n)))
        (if (local.get $masked)
          (then (local.set $q (call $maskRow (i32.add (local.get $row) (local.get $i)) (local.get $m) (local.get $nh) (local.get $nq) (local.get $mb) (local.get $mh) (local.get $mq)))))
        (local.set $len (call $visible (i32.add (local.get $row) (local.get $i)) (local.get $tk) (local.get $nq) (local.get $causal) (local.get $off)))
        (local.set $most (select (local.get $len) (local.get $most) (i32.gt_u (local.get $len) (local.get $most))))
        (local.set $j (i32.mul (local.get $i) (local.get $bytes)))
        ;; from the row's first draw (draws are numbered through the whole (B, H, Tq, Tk))
        (call $gradRow (i32.add (local.get $g) (local.get $j)) (i32.add (local.get $w) (local.get $j)) (i32.add (local.get $a) (local.get $j)) (local.get $len)
          (i32.add (i32.add (local.get $seed) (global.get $step)) (i32.mul (i32.mul (i32.add (local.get $row) (local.get $i)) (local.get $tk)) (global.get $step)))
          (local.get $dropped) (local.get $limit) (local.get $scale) (local.get $writeA) (local.get $masked) (local.get $q))
        (if (local.get $writeA) (then (call $zero (i32.add (local.get $a) (local.get $j)) (i32.shl (local.get $len) (i32.const 2)) (local.get $bytes))))
        (local.set $i (i32.add (local.get $i) (i32.const 1)))
        (br $l)))
      (local.set $most (i32.shl (local.get $most) (i32.const 2)))
      ;; their sums Σt, each in order from 0
      (local.set $s0 (f32.const 0))
      (local.set $s1 (f32.const 0))
      (local.set $s2 (f32.const 0))
      (local.set $s3 (f32.const 0))
      (local.set $j (i32.const 0))
      (if (i32.eq (local.get $n) (i32.const 4))
        (then
          (block $ds4 (loop $ls4
            (br_if $ds4 (i32.ge_u (local.get $j) (local.get $most)))
            (local.set $p (i32.add (local.get $g) (local.get $j)))
            (local.set $s0 (f32.add (local.get $s0) (f32.load (local.get $p))))
            (local.set $p (i32.add (local.get $p) (local.get $bytes)))
            (local.set $s1 (f32.add (local.get $s1) (f32.load (local.get $p))))
            (local.set $p (i32.add (local.get $p) (local.get $bytes)))
            (local.set $s2 (f32.add (local.get $s2) (f32.load (local.get $p))))
            (local.set $p (i32.add (local.get $p) (local.get $bytes)))
            (local.set $s3 (f32.add (local.get $s3) (f32.load (local.get $p))))
            (local.set $j (i32.add (local.get $j) (i32.const 4)))
            (br $ls4))))
        (else
          (block $ds1 (loop $ls1
            (br_if $ds1 (i32.ge_u (local.get $j) (local.get $most)))
            (local.set $s0 (f32.add (local.get $s0) (f32.load (i32.add (local.get $g) (local.get $j)))))
            (local.set $j (i32.add (local.get $j) (i32.const 4)))
            (br $ls1)))))
      ;; g = (t − Σt·w)·c
      (call $finishRow (local.get $g) (local.get $w) (call $visible (local.get $row) (local.get $tk) (local.get $nq) (local.get $causal) (local.get $off)) (local.get $s0) (local.get $c))
      (if (i32.eq (local.get $n) (i32.const 4))
        (then
          (local.set $j (local.get $bytes))
          (call $finishRow (i32.add (local.get $g) (local.get $j)) (i32.add (local.get $w) (local.get $j))
            (call $visible (i32.add (local.get $row) (i32.const 1)) (local.get $tk) (local.get $nq) (local.get $causal) (local.get $off)) (local.get $s1) (local.get $c))
          (local.set $j (i32.add (local.get $j) (local.get $bytes)))
          (call $finishRow (i32.add (local.get $g) (local.get $j)) (i32.add (local.get $w) (local.get $j))
            (call $visible (i32.add (local.get $row) (i32.const 2)) (local.get $tk) (local.get $nq) (local.get $causal) (local.get $off)) (local.get $s2) (local.get $c))
          (local.set $j (i32.add (local.get $j) (local.get $bytes)))
          (call $finishRow (i32.add (local.get $g) (local.get $j)) (i32.add (local.get $w) (local.get $j))
            (call $visible (i32.add (local.get $row) (i32.const 3)) (local.get $tk) (local.get $nq) (local.get $causal) (local.get $off)) (local.get $s3) (local.get $c))))
      (local.set $j (i32.mul (local.get $n) (local.get $bytes)))
      (local.set $g (i32.add (local.get $g) (local.get $j)))
      (local.set $w (i32.add (local.get $w) (local.get $j)))
      (local.set $a (i32.add (local.get $a) (local.get $j)))
      (local.set $row (i32.add (local.get $row) (local.get $n)))
      (br $rowLoop)))))
