;; gemm-packed.wat with relaxed SIMD: each multiply-add of the accumulators is one f32x4.relaxed_madd
;; (a fused multiply-add on CPUs that have one); otherwise line for line gemm-packed.wat, and an edit to
;; one belongs in the other. Used only when asked for (see batch-matmul.ts).
;; Batched matrix product with WebAssembly SIMD on packed copies of both operands.
;;
;;   C[b] (M, N) = A[b] (M, K) · B[b] (K, N)      float32, b = 0 … batch − 1
;;
;; Both operands are read through two strides, so a transposed A (xᵀ·dy, every weight gradient) or a
;; transposed B (dy·Wᵀ) needs no copy of its own: A[i, k] sits at a + i·aRowStride + k·aColStride
;; bytes, B[k, j] at b + k·bRowStride + j·bColStride. C is row-major.
;;
;; The sum over k goes in chunks of kc. For each chunk, the chunk's rows of B are copied into `work`
;; as blocks of 8 columns, each block (kc, 8) contiguous (zeros past N); then for every 4 rows of A
;; the chunk's (4, kc) slice is copied beside them, interleaved (kc, 4) (zeros past M). The inner
;; loop then walks two contiguous streams: for every k, two vectors of the B block and four
;; broadcast values of A, multiplied into a 4 × 8 block of C held in eight f32x4 accumulators. The
;; copies are where gemm.wat loses time on a transposed A (a cache line per k) and on long sums
;; (the B panel no longer fits the L1 cache).
;;
;; Every C[i, j] is summed over k in order, as a plain loop would: the first chunk starts from zero,
;; later chunks carry on from the partial sums stored in C. So the results are those of gemm.wat,
;; to the bit. Blocks at the edges (past M or N) are computed in a small staging tile.
(module
  (import "env" "memory" (memory 0))

  ;; work: scratch of kc·ceil(N/8)·32 + kc·16 + 128 bytes (packed B, packed A, the staging tile).
  (func (export "gemm")
    (param $a i32) (param $b i32) (param $c i32)
    (param $batch i32) (param $m i32) (param $k i32) (param $n i32)
    (param $ars i32) (param $acs i32) (param $brs i32) (param $bcs i32)
    (param $strideA i32) (param $strideB i32) (param $work i32) (param $kc i32)
    (local $bi i32) (local $k0 i32) (local $kl i32) (local $first i32) (local $nBlocks i32) (local $workA i32) (local $tile i32)
    (local $aMat i32) (local $bMat i32) (local $cMat i32) (local $nb i32)
    (local $jb i32) (local $kk i32) (local $l i32) (local $r i32) (local $i0 i32) (local $j0 i32)
    (local $src i32) (local $dst i32) (local $pa i32) (local $pb i32) (local $pc i32) (local $full i32) (local $ldc i32) (local $rows i32) (local $cols i32)
    (local $x v128) (local $bb0 v128) (local $bb1 v128)
    (local $c0_0 v128) (local $c0_1 v128) (local $c1_0 v128) (local $c1_1 v128) (local $c2_0 v128) (local $c2_1 v128) (local $c3_0 v128) (local $c3_1 v128)
    (local.set $nb (i32.shl (local.get $n) (i32.const 2)))
    (local.set $nBlocks (i32.div_u (i32.add (local.get $n) (i32.const 7)) (i32.const 8)))
    (local.set $workA (i32.add (local.get $work) (i32.mul (i32.mul (local.get $kc) (local.get $nBlocks)) (i32.const 32))))
    (local.set $tile (i32.add (local.get $workA) (i32.mul (local.get $kc) (i32.const 16))))
    (local.set $bi (i32.const 0))
    (block $doneBatch (loop $batchLoop
      (br_if $doneBatch (i32.ge_u (local.get $bi) (local.get $batch)))
      (local.set $aMat (i32.add (local.get $a) (i32.mul (local.get $bi) (local.get $strideA))))
      (local.set $bMat (i32.add (local.get $b) (i32.mul (local.get $bi) (local.get $strideB))))
      (local.set $cMat (i32.add (local.get $c) (i32.mul (local.get $bi) (i32.mul (local.get $m) (local.get $nb)))))
      (local.set $k0 (i32.const 0))
      (block $doneK0 (loop $k0Loop
        (br_if $doneK0 (i32.ge_u (local.get $k0) (local.get $k)))
        (local.set $kl (select (local.get $kc) (i32.sub (local.get $k) (local.get $k0)) (i32.lt_u (i32.add (local.get $k0) (local.get $kc)) (local.get $k))))
        (local.set $first (i32.eqz (local.get $k0)))
        ;; pack B[k0 : k0+kl, :] as blocks of 8 columns, (kl, 8) each, zeros past n
        (local.set $dst (local.get $work))
        (local.set $jb (i32.const 0))
        (block $donePB (loop $pbLoop
          (br_if $donePB (i32.ge_u (local.get $jb) (local.get $nBlocks)))
          (local.set $j0 (i32.mul (local.get $jb) (i32.const 8)))
          (local.set $kk (i32.const 0))
          (block $donePK (loop $pkLoop
            (br_if $donePK (i32.ge_u (local.get $kk) (local.get $kl)))
            (local.set $src (i32.add (i32.add (local.get $bMat) (i32.mul (i32.add (local.get $k0) (local.get $kk)) (local.get $brs))) (i32.mul (local.get $j0) (local.get $bcs))))
            (if (i32.and (i32.eq (local.get $bcs) (i32.const 4)) (i32.le_u (i32.add (local.get $j0) (i32.const 8)) (local.get $n)))
              (then

                (v128.store offset=0 (local.get $dst) (v128.load offset=0 align=4 (local.get $src)))
                (v128.store offset=16 (local.get $dst) (v128.load offset=16 align=4 (local.get $src)))
              )
              (else
                (local.set $l (i32.const 0))
                (block $doneL (loop $lLoop
                  (br_if $doneL (i32.ge_u (local.get $l) (i32.const 8)))
                  (f32.store (i32.add (local.get $dst) (i32.shl (local.get $l) (i32.const 2)))
                    (if (result f32) (i32.lt_u (i32.add (local.get $j0) (local.get $l)) (local.get $n))
                      (then (f32.load (i32.add (local.get $src) (i32.mul (local.get $l) (local.get $bcs)))))
                      (else (f32.const 0))))
                  (local.set $l (i32.add (local.get $l) (i32.const 1)))
                  (br $lLoop)))))
            (local.set $dst (i32.add (local.get $dst) (i32.const 32)))
            (local.set $kk (i32.add (local.get $kk) (i32.const 1)))
            (br $pkLoop)))
          (local.set $jb (i32.add (local.get $jb) (i32.const 1)))
          (br $pbLoop)))
        ;; row blocks of 4
        (local.set $i0 (i32.const 0))
        (block $doneRows (loop $rowLoop
          (br_if $doneRows (i32.ge_u (local.get $i0) (local.get $m)))
          (local.set $rows (select (i32.const 4) (i32.sub (local.get $m) (local.get $i0)) (i32.le_u (i32.add (local.get $i0) (i32.const 4)) (local.get $m))))
          ;; pack A[i0 : i0+4, k0 : k0+kl] as (kl, 4), zeros past m
          (local.set $dst (local.get $workA))
          (local.set $kk (i32.const 0))
          (block $donePA (loop $paLoop
            (br_if $donePA (i32.ge_u (local.get $kk) (local.get $kl)))
            (local.set $src (i32.add (i32.add (local.get $aMat) (i32.mul (local.get $i0) (local.get $ars))) (i32.mul (i32.add (local.get $k0) (local.get $kk)) (local.get $acs))))

            (if (i32.eq (local.get $rows) (i32.const 4)) (then
              (if (i32.eq (local.get $ars) (i32.const 4)) (then (v128.store (local.get $dst) (v128.load align=4 (local.get $src)))) (else
              (f32.store offset=0 (local.get $dst) (f32.load (local.get $src)))
              (local.set $src (i32.add (local.get $src) (local.get $ars)))
              (f32.store offset=4 (local.get $dst) (f32.load (local.get $src)))
              (local.set $src (i32.add (local.get $src) (local.get $ars)))
              (f32.store offset=8 (local.get $dst) (f32.load (local.get $src)))
              (local.set $src (i32.add (local.get $src) (local.get $ars)))
              (f32.store offset=12 (local.get $dst) (f32.load (local.get $src)))
              ))
            ) (else
            (f32.store offset=0 (local.get $dst) (if (result f32) (i32.gt_u (local.get $rows) (i32.const 0)) (then (f32.load (i32.add (local.get $src) (i32.mul (i32.const 0) (local.get $ars))))) (else (f32.const 0))))
            (f32.store offset=4 (local.get $dst) (if (result f32) (i32.gt_u (local.get $rows) (i32.const 1)) (then (f32.load (i32.add (local.get $src) (i32.mul (i32.const 1) (local.get $ars))))) (else (f32.const 0))))
            (f32.store offset=8 (local.get $dst) (if (result f32) (i32.gt_u (local.get $rows) (i32.const 2)) (then (f32.load (i32.add (local.get $src) (i32.mul (i32.const 2) (local.get $ars))))) (else (f32.const 0))))
            (f32.store offset=12 (local.get $dst) (if (result f32) (i32.gt_u (local.get $rows) (i32.const 3)) (then (f32.load (i32.add (local.get $src) (i32.mul (i32.const 3) (local.get $ars))))) (else (f32.const 0))))
            ))
            (local.set $dst (i32.add (local.get $dst) (i32.const 16)))
            (local.set $kk (i32.add (local.get $kk) (i32.const 1)))
            (br $paLoop)))
          (local.set $jb (i32.const 0))
          (block $doneCols (loop $colLoop
            (br_if $doneCols (i32.ge_u (local.get $jb) (local.get $nBlocks)))
            (local.set $j0 (i32.mul (local.get $jb) (i32.const 8)))
            (local.set $cols (select (i32.const 8) (i32.sub (local.get $n) (local.get $j0)) (i32.le_u (i32.add (local.get $j0) (i32.const 8)) (local.get $n))))
            (local.set $full (i32.and (i32.eq (local.get $rows) (i32.const 4)) (i32.eq (local.get $cols) (i32.const 8))))
            ;; where the block's C lives: in place when whole, else a staging tile
            (if (local.get $full)
              (then (local.set $pc (i32.add (local.get $cMat) (i32.add (i32.mul (local.get $i0) (local.get $nb)) (i32.shl (local.get $j0) (i32.const 2))))) (local.set $ldc (local.get $nb)))
              (else
                (local.set $pc (local.get $tile)) (local.set $ldc (i32.const 32))
                (if (i32.eqz (local.get $first)) (then
                  (local.set $r (i32.const 0))
                  (block $dR (loop $lR
                    (br_if $dR (i32.ge_u (local.get $r) (local.get $rows)))
                    (local.set $l (i32.const 0))
                    (block $dC (loop $lC
                      (br_if $dC (i32.ge_u (local.get $l) (local.get $cols)))
                      (f32.store (i32.add (local.get $tile) (i32.add (i32.mul (local.get $r) (i32.const 32)) (i32.shl (local.get $l) (i32.const 2))))
                        (f32.load (i32.add (local.get $cMat) (i32.add (i32.mul (i32.add (local.get $i0) (local.get $r)) (local.get $nb)) (i32.shl (i32.add (local.get $j0) (local.get $l)) (i32.const 2))))))
                      (local.set $l (i32.add (local.get $l) (i32.const 1)))
                      (br $lC)))
                    (local.set $r (i32.add (local.get $r) (i32.const 1)))
                    (br $lR)))))))
            (if (local.get $first)
              (then

                (local.set $c0_0 (v128.const i32x4 0 0 0 0))
                (local.set $c0_1 (v128.const i32x4 0 0 0 0))
                (local.set $c1_0 (v128.const i32x4 0 0 0 0))
                (local.set $c1_1 (v128.const i32x4 0 0 0 0))
                (local.set $c2_0 (v128.const i32x4 0 0 0 0))
                (local.set $c2_1 (v128.const i32x4 0 0 0 0))
                (local.set $c3_0 (v128.const i32x4 0 0 0 0))
                (local.set $c3_1 (v128.const i32x4 0 0 0 0))
              )
              (else
                (local.set $c0_0 (v128.load offset=0 align=4 (local.get $pc)))
                (local.set $c0_1 (v128.load offset=16 align=4 (local.get $pc)))
                (local.set $pc (i32.add (local.get $pc) (local.get $ldc)))
                (local.set $c1_0 (v128.load offset=0 align=4 (local.get $pc)))
                (local.set $c1_1 (v128.load offset=16 align=4 (local.get $pc)))
                (local.set $pc (i32.add (local.get $pc) (local.get $ldc)))
                (local.set $c2_0 (v128.load offset=0 align=4 (local.get $pc)))
                (local.set $c2_1 (v128.load offset=16 align=4 (local.get $pc)))
                (local.set $pc (i32.add (local.get $pc) (local.get $ldc)))
                (local.set $c3_0 (v128.load offset=0 align=4 (local.get $pc)))
                (local.set $c3_1 (v128.load offset=16 align=4 (local.get $pc)))
                (local.set $pc (i32.sub (local.get $pc) (i32.mul (local.get $ldc) (i32.const 3))))
              ))
            (local.set $pa (local.get $workA))
            (local.set $pb (i32.add (local.get $work) (i32.mul (i32.mul (local.get $jb) (local.get $kl)) (i32.const 32))))
            (local.set $kk (local.get $kl))
            (block $doneKU (loop $kU
              (br_if $doneKU (i32.lt_u (local.get $kk) (i32.const 1)))
              (local.set $bb0 (v128.load offset=0 (local.get $pb)))
              (local.set $bb1 (v128.load offset=16 (local.get $pb)))
              (local.set $x (v128.load32_splat offset=0 (local.get $pa)))
              (local.set $c0_0 (f32x4.relaxed_madd (local.get $x) (local.get $bb0) (local.get $c0_0)))
              (local.set $c0_1 (f32x4.relaxed_madd (local.get $x) (local.get $bb1) (local.get $c0_1)))
              (local.set $x (v128.load32_splat offset=4 (local.get $pa)))
              (local.set $c1_0 (f32x4.relaxed_madd (local.get $x) (local.get $bb0) (local.get $c1_0)))
              (local.set $c1_1 (f32x4.relaxed_madd (local.get $x) (local.get $bb1) (local.get $c1_1)))
              (local.set $x (v128.load32_splat offset=8 (local.get $pa)))
              (local.set $c2_0 (f32x4.relaxed_madd (local.get $x) (local.get $bb0) (local.get $c2_0)))
              (local.set $c2_1 (f32x4.relaxed_madd (local.get $x) (local.get $bb1) (local.get $c2_1)))
              (local.set $x (v128.load32_splat offset=12 (local.get $pa)))
              (local.set $c3_0 (f32x4.relaxed_madd (local.get $x) (local.get $bb0) (local.get $c3_0)))
              (local.set $c3_1 (f32x4.relaxed_madd (local.get $x) (local.get $bb1) (local.get $c3_1)))
              (local.set $pa (i32.add (local.get $pa) (i32.const 16)))
              (local.set $pb (i32.add (local.get $pb) (i32.const 32)))
              (local.set $kk (i32.sub (local.get $kk) (i32.const 1)))
              (br $kU)))
            (block $doneK1 (loop $k1
              (br_if $doneK1 (i32.eqz (local.get $kk)))
              (local.set $bb0 (v128.load offset=0 (local.get $pb)))
              (local.set $bb1 (v128.load offset=16 (local.get $pb)))
              (local.set $x (v128.load32_splat offset=0 (local.get $pa)))
              (local.set $c0_0 (f32x4.relaxed_madd (local.get $x) (local.get $bb0) (local.get $c0_0)))
              (local.set $c0_1 (f32x4.relaxed_madd (local.get $x) (local.get $bb1) (local.get $c0_1)))
              (local.set $x (v128.load32_splat offset=4 (local.get $pa)))
              (local.set $c1_0 (f32x4.relaxed_madd (local.get $x) (local.get $bb0) (local.get $c1_0)))
              (local.set $c1_1 (f32x4.relaxed_madd (local.get $x) (local.get $bb1) (local.get $c1_1)))
              (local.set $x (v128.load32_splat offset=8 (local.get $pa)))
              (local.set $c2_0 (f32x4.relaxed_madd (local.get $x) (local.get $bb0) (local.get $c2_0)))
              (local.set $c2_1 (f32x4.relaxed_madd (local.get $x) (local.get $bb1) (local.get $c2_1)))
              (local.set $x (v128.load32_splat offset=12 (local.get $pa)))
              (local.set $c3_0 (f32x4.relaxed_madd (local.get $x) (local.get $bb0) (local.get $c3_0)))
              (local.set $c3_1 (f32x4.relaxed_madd (local.get $x) (local.get $bb1) (local.get $c3_1)))
              (local.set $pa (i32.add (local.get $pa) (i32.const 16)))
              (local.set $pb (i32.add (local.get $pb) (i32.const 32)))
              (local.set $kk (i32.sub (local.get $kk) (i32.const 1)))
              (br $k1)))
            (v128.store offset=0 align=4 (local.get $pc) (local.get $c0_0))
            (v128.store offset=16 align=4 (local.get $pc) (local.get $c0_1))
            (local.set $pc (i32.add (local.get $pc) (local.get $ldc)))
            (v128.store offset=0 align=4 (local.get $pc) (local.get $c1_0))
            (v128.store offset=16 align=4 (local.get $pc) (local.get $c1_1))
            (local.set $pc (i32.add (local.get $pc) (local.get $ldc)))
            (v128.store offset=0 align=4 (local.get $pc) (local.get $c2_0))
            (v128.store offset=16 align=4 (local.get $pc) (local.get $c2_1))
            (local.set $pc (i32.add (local.get $pc) (local.get $ldc)))
            (v128.store offset=0 align=4 (local.get $pc) (local.get $c3_0))
            (v128.store offset=16 align=4 (local.get $pc) (local.get $c3_1))
            (if (i32.eqz (local.get $full)) (then
              (local.set $r (i32.const 0))
              (block $dR2 (loop $lR2
                (br_if $dR2 (i32.ge_u (local.get $r) (local.get $rows)))
                (local.set $l (i32.const 0))
                (block $dC2 (loop $lC2
                  (br_if $dC2 (i32.ge_u (local.get $l) (local.get $cols)))
                  (f32.store (i32.add (local.get $cMat) (i32.add (i32.mul (i32.add (local.get $i0) (local.get $r)) (local.get $nb)) (i32.shl (i32.add (local.get $j0) (local.get $l)) (i32.const 2))))
                    (f32.load (i32.add (local.get $tile) (i32.add (i32.mul (local.get $r) (i32.const 32)) (i32.shl (local.get $l) (i32.const 2))))))
                  (local.set $l (i32.add (local.get $l) (i32.const 1)))
                  (br $lC2)))
                (local.set $r (i32.add (local.get $r) (i32.const 1)))
                (br $lR2)))))
            (local.set $jb (i32.add (local.get $jb) (i32.const 1)))
            (br $colLoop)))
          (local.set $i0 (i32.add (local.get $i0) (i32.const 4)))
          (br $rowLoop)))
        (local.set $k0 (i32.add (local.get $k0) (local.get $kc)))
        (br $k0Loop)))
      (local.set $bi (i32.add (local.get $bi) (i32.const 1)))
      (br $batchLoop)))))
