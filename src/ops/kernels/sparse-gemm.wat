;; Matrix product with WebAssembly SIMD that skips the zeros of its left operand:
;;
;;   C (M, N) = A (M, K) · B (K, N)      float32
;;
;; After a ReLU and dropout, more than half of the feed-forward layer's hidden units are exactly 0,
;; and four of the layer's six products sum over them. Three steps:
;; - `list`: for every row of A, its entries that are not zero as pairs (byte offset of the row of
;;   packed B it multiplies, value), the rows one after another, and where each row starts
;;   (contiguous rows 4 entries at a time: 0.08 ms for 512 × 512 where one at a time took 0.17);
;; - `pack`: B copied as blocks of 16 columns, (K, 16) each, zeros past N, so that a block's rows
;;   are 64 bytes apart (B's own rows, a power of two apart, would crowd a few cache sets);
;; - `gemm`: for every block of 16 columns and every row, only that row's pairs: per pair, four
;;   vectors of the block's row times the broadcast value, into four f32x4 accumulators.
;;
;; The sums are those of gemm.wat and gemm-packed.wat to the bit: every C[i, j] starts from +0 and
;; adds A[i, k]·B[k, j] in increasing k, the terms kept in the same order. A skipped term is ±0 (a
;; zero times a finite number), and ±0 changes no sum that starts from +0: such a sum is never −0
;; (x + y is −0 only when both are), and s + (±0) = s for every other s. The one difference: where
;; B holds an infinity or a NaN, 0·B is NaN in the full sum and skipped here.
(module
  (import "env" "memory" (memory 0))

  ;; A[i, k] at a + i·rs + k·cs bytes (a column of a stored matrix is a row here: rs = 4, cs = the
  ;; stored row's bytes). pairs: room for 8·M·K bytes; starts: M + 1 row starts, counted in pairs.
  ;; Returns the number of pairs.
  (func (export "list")
    (param $a i32) (param $m i32) (param $k i32) (param $rs i32) (param $cs i32)
    (param $pairs i32) (param $starts i32) (result i32)
    (local $i i32) (local $kk i32) (local $src i32) (local $out i32) (local $off i32) (local $v f32)
    (local $bits i32) (local $o v128) (local $w v128) (local $lo v128) (local $hi v128)
    (local.set $out (local.get $pairs))
    (block $doneRows (loop $rows
      (br_if $doneRows (i32.ge_u (local.get $i) (local.get $m)))
      (i32.store (i32.add (local.get $starts) (i32.shl (local.get $i) (i32.const 2)))
        (i32.shr_u (i32.sub (local.get $out) (local.get $pairs)) (i32.const 3)))
      (local.set $src (i32.add (local.get $a) (i32.mul (local.get $i) (local.get $rs))))
      (local.set $off (i32.const 0))
      (local.set $kk (local.get $k))
      ;; contiguous rows, 4 entries at a time: the pairs built with two shuffles, each stored as one
      ;; 64-bit lane, the write position moved on by the entry's bit of the not-zero mask
      (if (i32.eq (local.get $cs) (i32.const 4)) (then
        (local.set $o (v128.const i32x4 0 64 128 192))
        (block $done4 (loop $ks4
          (br_if $done4 (i32.lt_u (local.get $kk) (i32.const 4)))
          (local.set $w (v128.load align=4 (local.get $src)))
          (local.set $bits (i32x4.bitmask (f32x4.ne (local.get $w) (v128.const i32x4 0 0 0 0))))
          (local.set $lo (i8x16.shuffle 0 1 2 3 16 17 18 19 4 5 6 7 20 21 22 23 (local.get $o) (local.get $w)))
          (local.set $hi (i8x16.shuffle 8 9 10 11 24 25 26 27 12 13 14 15 28 29 30 31 (local.get $o) (local.get $w)))
          (v128.store64_lane 0 (local.get $out) (local.get $lo))
          (local.set $out (i32.add (local.get $out) (i32.shl (i32.and (local.get $bits) (i32.const 1)) (i32.const 3))))
          (v128.store64_lane 1 (local.get $out) (local.get $lo))
          (local.set $out (i32.add (local.get $out) (i32.shl (i32.and (local.get $bits) (i32.const 2)) (i32.const 2))))
          (v128.store64_lane 0 (local.get $out) (local.get $hi))
          (local.set $out (i32.add (local.get $out) (i32.shl (i32.and (local.get $bits) (i32.const 4)) (i32.const 1))))
          (v128.store64_lane 1 (local.get $out) (local.get $hi))
          (local.set $out (i32.add (local.get $out) (i32.and (local.get $bits) (i32.const 8))))
          (local.set $o (i32x4.add (local.get $o) (v128.const i32x4 256 256 256 256)))
          (local.set $src (i32.add (local.get $src) (i32.const 16)))
          (local.set $off (i32.add (local.get $off) (i32.const 256)))
          (local.set $kk (i32.sub (local.get $kk) (i32.const 4)))
          (br $ks4)))))
      ;; one at a time (the rest, or a strided row): every entry is written; the write position
      ;; moves on only past one that is not zero
      (block $doneK (loop $ks
        (br_if $doneK (i32.eqz (local.get $kk)))
        (local.set $v (f32.load (local.get $src)))
        (i32.store (local.get $out) (local.get $off))
        (f32.store offset=4 (local.get $out) (local.get $v))
        (local.set $out (i32.add (local.get $out) (i32.shl (f32.ne (local.get $v) (f32.const 0)) (i32.const 3))))
        (local.set $src (i32.add (local.get $src) (local.get $cs)))
        (local.set $off (i32.add (local.get $off) (i32.const 64)))
        (local.set $kk (i32.sub (local.get $kk) (i32.const 1)))
        (br $ks)))
      (local.set $i (i32.add (local.get $i) (i32.const 1)))
      (br $rows)))
    (local.set $kk (i32.shr_u (i32.sub (local.get $out) (local.get $pairs)) (i32.const 3)))
    (i32.store (i32.add (local.get $starts) (i32.shl (local.get $m) (i32.const 2))) (local.get $kk))
    (local.get $kk))

  ;; B (K, N), rows ldb bytes apart, into out as ceil(N/16) blocks of (K, 16), zeros past N.
  (func (export "pack") (param $b i32) (param $k i32) (param $n i32) (param $ldb i32) (param $out i32)
    (local $j i32) (local $kk i32) (local $src i32) (local $l i32)
    (block $doneBlocks (loop $blocks
      (br_if $doneBlocks (i32.ge_u (local.get $j) (local.get $n)))
      (local.set $src (i32.add (local.get $b) (i32.shl (local.get $j) (i32.const 2))))
      (local.set $kk (local.get $k))
      (block $doneK (loop $ks
        (br_if $doneK (i32.eqz (local.get $kk)))
        (if (i32.le_u (i32.add (local.get $j) (i32.const 16)) (local.get $n))
          (then
            (v128.store offset=0 (local.get $out) (v128.load offset=0 align=4 (local.get $src)))
            (v128.store offset=16 (local.get $out) (v128.load offset=16 align=4 (local.get $src)))
            (v128.store offset=32 (local.get $out) (v128.load offset=32 align=4 (local.get $src)))
            (v128.store offset=48 (local.get $out) (v128.load offset=48 align=4 (local.get $src))))
          (else
            (local.set $l (i32.const 0))
            (block $doneL (loop $ls
              (br_if $doneL (i32.ge_u (local.get $l) (i32.const 16)))
              (f32.store (i32.add (local.get $out) (i32.shl (local.get $l) (i32.const 2)))
                (if (result f32) (i32.lt_u (i32.add (local.get $j) (local.get $l)) (local.get $n))
                  (then (f32.load (i32.add (local.get $src) (i32.shl (local.get $l) (i32.const 2)))))
                  (else (f32.const 0))))
              (local.set $l (i32.add (local.get $l) (i32.const 1)))
              (br $ls)))))
        (local.set $out (i32.add (local.get $out) (i32.const 64)))
        (local.set $src (i32.add (local.get $src) (local.get $ldb)))
        (local.set $kk (i32.sub (local.get $kk) (i32.const 1)))
        (br $ks)))
      (local.set $j (i32.add (local.get $j) (i32.const 16)))
      (br $blocks))))

  ;; The entries of v that lie before column n (v holds columns j … j + 3), cs bytes apart from c.
  (func $store (param $c i32) (param $cs i32) (param $j i32) (param $n i32) (param $v v128)
    (if (i32.and (i32.eq (local.get $cs) (i32.const 4)) (i32.le_u (i32.add (local.get $j) (i32.const 4)) (local.get $n)))
      (then (v128.store align=4 (local.get $c) (local.get $v)) (return)))
    (if (i32.ge_u (local.get $j) (local.get $n)) (then (return)))
    (f32.store (local.get $c) (f32x4.extract_lane 0 (local.get $v)))
    (if (i32.ge_u (i32.add (local.get $j) (i32.const 1)) (local.get $n)) (then (return)))
    (f32.store (i32.add (local.get $c) (local.get $cs)) (f32x4.extract_lane 1 (local.get $v)))
    (if (i32.ge_u (i32.add (local.get $j) (i32.const 2)) (local.get $n)) (then (return)))
    (f32.store (i32.add (local.get $c) (i32.shl (local.get $cs) (i32.const 1))) (f32x4.extract_lane 2 (local.get $v)))
    (if (i32.ge_u (i32.add (local.get $j) (i32.const 3)) (local.get $n)) (then (return)))
    (f32.store (i32.add (local.get $c) (i32.mul (local.get $cs) (i32.const 3))) (f32x4.extract_lane 3 (local.get $v))))

  ;; C[i, j] = Σ over row i's pairs (offset, value) of value · packed B's row at offset, column j,
  ;; for i < M, j < N; packed: `pack`'s output for K rows. C[i, j] at c + i·ldc + j·ccs bytes
  ;; (ccs = 4 row-major; ldc = 4 and ccs = the row's bytes writes C transposed).
  (func (export "gemm")
    (param $pairs i32) (param $starts i32) (param $m i32) (param $n i32) (param $packed i32) (param $k i32)
    (param $c i32) (param $ldc i32) (param $ccs i32)
    (local $i i32) (local $j i32) (local $p i32) (local $end i32) (local $pb i32) (local $q i32) (local $pc i32) (local $cs4 i32) (local $whole i32)
    (local $x v128) (local $c0 v128) (local $c1 v128) (local $c2 v128) (local $c3 v128)
    (local.set $cs4 (i32.shl (local.get $ccs) (i32.const 2)))
    (local.set $pb (local.get $packed))
    (block $doneBlocks (loop $blocks
      (br_if $doneBlocks (i32.ge_u (local.get $j) (local.get $n)))
      (local.set $whole (i32.and (i32.eq (local.get $ccs) (i32.const 4)) (i32.le_u (i32.add (local.get $j) (i32.const 16)) (local.get $n))))
      (local.set $i (i32.const 0))
      (block $doneRows (loop $rows
        (br_if $doneRows (i32.ge_u (local.get $i) (local.get $m)))
        (local.set $c0 (v128.const i32x4 0 0 0 0))
        (local.set $c1 (v128.const i32x4 0 0 0 0))
        (local.set $c2 (v128.const i32x4 0 0 0 0))
        (local.set $c3 (v128.const i32x4 0 0 0 0))
        (local.set $p (i32.add (local.get $pairs) (i32.shl (i32.load (i32.add (local.get $starts) (i32.shl (local.get $i) (i32.const 2)))) (i32.const 3))))
        (local.set $end (i32.add (local.get $pairs) (i32.shl (i32.load offset=4 (i32.add (local.get $starts) (i32.shl (local.get $i) (i32.const 2)))) (i32.const 3))))
        ;; two pairs at a time (one loop check per two), then the last one if the count is odd
        (block $doneK2 (loop $ks2
          (br_if $doneK2 (i32.gt_u (i32.add (local.get $p) (i32.const 16)) (local.get $end)))
          (local.set $q (i32.add (local.get $pb) (i32.load offset=0 (local.get $p))))
          (local.set $x (v128.load32_splat offset=4 (local.get $p)))
          (local.set $c0 (f32x4.add (local.get $c0) (f32x4.mul (local.get $x) (v128.load offset=0 (local.get $q)))))
          (local.set $c1 (f32x4.add (local.get $c1) (f32x4.mul (local.get $x) (v128.load offset=16 (local.get $q)))))
          (local.set $c2 (f32x4.add (local.get $c2) (f32x4.mul (local.get $x) (v128.load offset=32 (local.get $q)))))
          (local.set $c3 (f32x4.add (local.get $c3) (f32x4.mul (local.get $x) (v128.load offset=48 (local.get $q)))))
          (local.set $q (i32.add (local.get $pb) (i32.load offset=8 (local.get $p))))
          (local.set $x (v128.load32_splat offset=12 (local.get $p)))
          (local.set $c0 (f32x4.add (local.get $c0) (f32x4.mul (local.get $x) (v128.load offset=0 (local.get $q)))))
          (local.set $c1 (f32x4.add (local.get $c1) (f32x4.mul (local.get $x) (v128.load offset=16 (local.get $q)))))
          (local.set $c2 (f32x4.add (local.get $c2) (f32x4.mul (local.get $x) (v128.load offset=32 (local.get $q)))))
          (local.set $c3 (f32x4.add (local.get $c3) (f32x4.mul (local.get $x) (v128.load offset=48 (local.get $q)))))
          (local.set $p (i32.add (local.get $p) (i32.const 16)))
          (br $ks2)))
        (block $doneK (loop $ks
          (br_if $doneK (i32.ge_u (local.get $p) (local.get $end)))
          (local.set $q (i32.add (local.get $pb) (i32.load (local.get $p))))
          (local.set $x (v128.load32_splat offset=4 (local.get $p)))
          (local.set $c0 (f32x4.add (local.get $c0) (f32x4.mul (local.get $x) (v128.load offset=0 (local.get $q)))))
          (local.set $c1 (f32x4.add (local.get $c1) (f32x4.mul (local.get $x) (v128.load offset=16 (local.get $q)))))
          (local.set $c2 (f32x4.add (local.get $c2) (f32x4.mul (local.get $x) (v128.load offset=32 (local.get $q)))))
          (local.set $c3 (f32x4.add (local.get $c3) (f32x4.mul (local.get $x) (v128.load offset=48 (local.get $q)))))
          (local.set $p (i32.add (local.get $p) (i32.const 8)))
          (br $ks)))
        (local.set $pc (i32.add (i32.add (local.get $c) (i32.mul (local.get $i) (local.get $ldc))) (i32.mul (local.get $j) (local.get $ccs))))
        (if (local.get $whole)
          (then
            ;; row-major and all 16 columns inside C: four stores here, not four calls
            (v128.store offset=0 align=4 (local.get $pc) (local.get $c0))
            (v128.store offset=16 align=4 (local.get $pc) (local.get $c1))
            (v128.store offset=32 align=4 (local.get $pc) (local.get $c2))
            (v128.store offset=48 align=4 (local.get $pc) (local.get $c3)))
          (else
            (call $store (local.get $pc) (local.get $ccs) (local.get $j) (local.get $n) (local.get $c0))
            (call $store (i32.add (local.get $pc) (local.get $cs4)) (local.get $ccs) (i32.add (local.get $j) (i32.const 4)) (local.get $n) (local.get $c1))
            (call $store (i32.add (local.get $pc) (i32.shl (local.get $cs4) (i32.const 1))) (local.get $ccs) (i32.add (local.get $j) (i32.const 8)) (local.get $n) (local.get $c2))
            (call $store (i32.add (local.get $pc) (i32.mul (local.get $cs4) (i32.const 3))) (local.get $ccs) (i32.add (local.get $j) (i32.const 12)) (local.get $n) (local.get $c3))))
        (local.set $i (i32.add (local.get $i) (i32.const 1)))
        (br $rows)))
      (local.set $pb (i32.add (local.get $pb) (i32.shl (local.get $k) (i32.const 6))))
      (local.set $j (i32.add (local.get $j) (i32.const 16)))
      (br $blocks)))))
