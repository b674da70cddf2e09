;; Batched matrix product with WebAssembly SIMD, register-blocked.
;;
;;   C[b] (M, N) = A[b] (M, K) · B[b] (K, N)      float32, b = 0 … batch − 1
;;
;; B and C are row-major, their rows ldb and ldc bytes apart (so a product can fill a block of a
;; wider matrix, as attention's causal slabs do). A is read through two strides, so a transposed A
;; (stored (K, M), as in the weight gradient xᵀ·dy) needs no copy: A[i, k] sits at
;; a + i·rowStride + k·colStride bytes.
;; Columns go in panels (see $panel), and within a panel blocks of 4 rows × 8 columns of C are held in eight f32x4 accumulators: for every k, two vectors
;; of row k of B are loaded once and multiplied with four broadcast values of A (a load per two
;; multiply-adds, against one per multiply-add when a row is built alone). Rows left over go one at
;; a time, columns left over 4 at a time, then one at a time. Every C[i, j] is summed over k in
;; order, as a plain loop would.
(module
  (import "env" "memory" (memory 0))

  ;; a, b, c: byte offsets; rowStride, colStride: bytes between neighbours of A along M and along K;
  ;; strideA, strideB: bytes between consecutive matrices of A and B (0 repeats the same matrix);
  ;; panel: columns of C computed together (a multiple of 8), so that the (K, panel) slice of B they
  ;; read stays in cache while every row of A passes over it; ldb, ldc: bytes between rows of B and
  ;; of C (4·N when contiguous); strideC: bytes between consecutive matrices of C.
  (func (export "gemm")
    (param $a i32) (param $b i32) (param $c i32)
    (param $batch i32) (param $m i32) (param $k i32) (param $n i32)
    (param $rs i32) (param $cs i32) (param $strideA i32) (param $strideB i32) (param $panel i32)
    (param $ldb i32) (param $ldc i32) (param $strideC i32)
    (local $bi i32) (local $i i32) (local $j i32) (local $kk i32)
    (local $aMat i32) (local $bMat i32) (local $cMat i32) (local $aRow i32) (local $cRow i32)
    (local $pa i32) (local $pb i32) (local $pc i32) (local $rs2 i32) (local $rs3 i32) (local $jp i32) (local $jEnd i32)
    (local $x v128) (local $b0 v128) (local $b1 v128)
    (local $c00 v128) (local $c01 v128) (local $c10 v128) (local $c11 v128)
    (local $c20 v128) (local $c21 v128) (local $c30 v128) (local $c31 v128)
    (local $s0 f32) (local $s1 f32) (local $s2 f32) (local $s3 f32) (local $y f32)
    (local.set $rs2 (i32.shl (local.get $rs) (i32.const 1)))
    (local.set $rs3 (i32.add (local.get $rs2) (local.get $rs)))
    (local.set $bi (i32.const 0))
    (block $doneBatch
      (loop $batchLoop
        (br_if $doneBatch (i32.ge_u (local.get $bi) (local.get $batch)))
        (local.set $aMat (i32.add (local.get $a) (i32.mul (local.get $bi) (local.get $strideA))))
        (local.set $bMat (i32.add (local.get $b) (i32.mul (local.get $bi) (local.get $strideB))))
        (local.set $cMat (i32.add (local.get $c) (i32.mul (local.get $bi) (local.get $strideC))))
        (local.set $jp (i32.const 0))
        (block $donePanels
          (loop $panels
        (br_if $donePanels (i32.ge_u (local.get $jp) (local.get $n)))
        (local.set $jEnd (select (i32.add (local.get $jp) (local.get $panel)) (local.get $n) (i32.lt_u (i32.add (local.get $jp) (local.get $panel)) (local.get $n))))
        (local.set $i (i32.const 0))
        ;; four rows at a time
        (block $done4Rows
          (loop $rows4
            (br_if $done4Rows (i32.gt_u (i32.add (local.get $i) (i32.const 4)) (local.get $m)))
            (local.set $aRow (i32.add (local.get $aMat) (i32.mul (local.get $i) (local.get $rs))))
            (local.set $cRow (i32.add (local.get $cMat) (i32.mul (local.get $i) (local.get $ldc))))
            (local.set $j (local.get $jp))
            ;; 4 × 8 blocks
            (block $done8
              (loop $cols8
                (br_if $done8 (i32.gt_u (i32.add (local.get $j) (i32.const 8)) (local.get $jEnd)))
                (local.set $c00 (v128.const i32x4 0 0 0 0))
                (local.set $c01 (v128.const i32x4 0 0 0 0))
                (local.set $c10 (v128.const i32x4 0 0 0 0))
                (local.set $c11 (v128.const i32x4 0 0 0 0))
                (local.set $c20 (v128.const i32x4 0 0 0 0))
                (local.set $c21 (v128.const i32x4 0 0 0 0))
                (local.set $c30 (v128.const i32x4 0 0 0 0))
                (local.set $c31 (v128.const i32x4 0 0 0 0))
                (local.set $pa (local.get $aRow))
                (local.set $pb (i32.add (local.get $bMat) (i32.shl (local.get $j) (i32.const 2))))
                (local.set $kk (local.get $k))
                (block $doneK8
                  (loop $k8
                    (br_if $doneK8 (i32.eqz (local.get $kk)))
                    (local.set $b0 (v128.load align=4 (local.get $pb)))
                    (local.set $b1 (v128.load offset=16 align=4 (local.get $pb)))
                    (local.set $x (v128.load32_splat (local.get $pa)))
                    (local.set $c00 (f32x4.add (local.get $c00) (f32x4.mul (local.get $x) (local.get $b0))))
                    (local.set $c01 (f32x4.add (local.get $c01) (f32x4.mul (local.get $x) (local.get $b1))))
                    (local.set $x (v128.load32_splat (i32.add (local.get $pa) (local.get $rs))))
                    (local.set $c10 (f32x4.add (local.get $c10) (f32x4.mul (local.get $x) (local.get $b0))))
                    (local.set $c11 (f32x4.add (local.get $c11) (f32x4.mul (local.get $x) (local.get $b1))))
                    (local.set $x (v128.load32_splat (i32.add (local.get $pa) (local.get $rs2))))
                    (local.set $c20 (f32x4.add (local.get $c20) (f32x4.mul (local.get $x) (local.get $b0))))
                    (local.set $c21 (f32x4.add (local.get $c21) (f32x4.mul (local.get $x) (local.get $b1))))
                    (local.set $x (v128.load32_splat (i32.add (local.get $pa) (local.get $rs3))))
                    (local.set $c30 (f32x4.add (local.get $c30) (f32x4.mul (local.get $x) (local.get $b0))))
                    (local.set $c31 (f32x4.add (local.get $c31) (f32x4.mul (local.get $x) (local.get $b1))))
                    (local.set $pa (i32.add (local.get $pa) (local.get $cs)))
                    (local.set $pb (i32.add (local.get $pb) (local.get $ldb)))
                    (local.set $kk (i32.sub (local.get $kk) (i32.const 1)))
                    (br $k8)))
                (local.set $pc (i32.add (local.get $cRow) (i32.shl (local.get $j) (i32.const 2))))
                (v128.store offset=0 align=4 (local.get $pc) (local.get $c00))
                (v128.store offset=16 align=4 (local.get $pc) (local.get $c01))
                (local.set $pc (i32.add (local.get $pc) (local.get $ldc)))
                (v128.store offset=0 align=4 (local.get $pc) (local.get $c10))
                (v128.store offset=16 align=4 (local.get $pc) (local.get $c11))
                (local.set $pc (i32.add (local.get $pc) (local.get $ldc)))
                (v128.store offset=0 align=4 (local.get $pc) (local.get $c20))
                (v128.store offset=16 align=4 (local.get $pc) (local.get $c21))
                (local.set $pc (i32.add (local.get $pc) (local.get $ldc)))
                (v128.store offset=0 align=4 (local.get $pc) (local.get $c30))
                (v128.store offset=16 align=4 (local.get $pc) (local.get $c31))
                (local.set $j (i32.add (local.get $j) (i32.const 8)))
                (br $cols8)))
            ;; 4 × 4 blocks
            (block $done4
              (loop $cols4
                (br_if $done4 (i32.gt_u (i32.add (local.get $j) (i32.const 4)) (local.get $jEnd)))
                (local.set $c00 (v128.const i32x4 0 0 0 0))
                (local.set $c10 (v128.const i32x4 0 0 0 0))
                (local.set $c20 (v128.const i32x4 0 0 0 0))
                (local.set $c30 (v128.const i32x4 0 0 0 0))
                (local.set $pa (local.get $aRow))
                (local.set $pb (i32.add (local.get $bMat) (i32.shl (local.get $j) (i32.const 2))))
                (local.set $kk (local.get $k))
                (block $doneK4
                  (loop $k4
                    (br_if $doneK4 (i32.eqz (local.get $kk)))
                    (local.set $b0 (v128.load align=4 (local.get $pb)))
                    (local.set $c00 (f32x4.add (local.get $c00) (f32x4.mul (v128.load32_splat (local.get $pa)) (local.get $b0))))
                    (local.set $c10 (f32x4.add (local.get $c10) (f32x4.mul (v128.load32_splat (i32.add (local.get $pa) (local.get $rs))) (local.get $b0))))
                    (local.set $c20 (f32x4.add (local.get $c20) (f32x4.mul (v128.load32_splat (i32.add (local.get $pa) (local.get $rs2))) (local.get $b0))))
                    (local.set $c30 (f32x4.add (local.get $c30) (f32x4.mul (v128.load32_splat (i32.add (local.get $pa) (local.get $rs3))) (local.get $b0))))
                    (local.set $pa (i32.add (local.get $pa) (local.get $cs)))
                    (local.set $pb (i32.add (local.get $pb) (local.get $ldb)))
                    (local.set $kk (i32.sub (local.get $kk) (i32.const 1)))
                    (br $k4)))
                (local.set $pc (i32.add (local.get $cRow) (i32.shl (local.get $j) (i32.const 2))))
                (v128.store align=4 (local.get $pc) (local.get $c00))
                (local.set $pc (i32.add (local.get $pc) (local.get $ldc)))
                (v128.store align=4 (local.get $pc) (local.get $c10))
                (local.set $pc (i32.add (local.get $pc) (local.get $ldc)))
                (v128.store align=4 (local.get $pc) (local.get $c20))
                (local.set $pc (i32.add (local.get $pc) (local.get $ldc)))
                (v128.store align=4 (local.get $pc) (local.get $c30))
                (local.set $j (i32.add (local.get $j) (i32.const 4)))
                (br $cols4)))
            ;; the last columns one at a time
            (block $done1
              (loop $cols1
                (br_if $done1 (i32.ge_u (local.get $j) (local.get $jEnd)))
                (local.set $s0 (f32.const 0))
                (local.set $s1 (f32.const 0))
                (local.set $s2 (f32.const 0))
                (local.set $s3 (f32.const 0))
                (local.set $pa (local.get $aRow))
                (local.set $pb (i32.add (local.get $bMat) (i32.shl (local.get $j) (i32.const 2))))
                (local.set $kk (local.get $k))
                (block $doneK1
                  (loop $k1
                    (br_if $doneK1 (i32.eqz (local.get $kk)))
                    (local.set $y (f32.load (local.get $pb)))
                    (local.set $s0 (f32.add (local.get $s0) (f32.mul (f32.load (local.get $pa)) (local.get $y))))
                    (local.set $s1 (f32.add (local.get $s1) (f32.mul (f32.load (i32.add (local.get $pa) (local.get $rs))) (local.get $y))))
                    (local.set $s2 (f32.add (local.get $s2) (f32.mul (f32.load (i32.add (local.get $pa) (local.get $rs2))) (local.get $y))))
                    (local.set $s3 (f32.add (local.get $s3) (f32.mul (f32.load (i32.add (local.get $pa) (local.get $rs3))) (local.get $y))))
                    (local.set $pa (i32.add (local.get $pa) (local.get $cs)))
                    (local.set $pb (i32.add (local.get $pb) (local.get $ldb)))
                    (local.set $kk (i32.sub (local.get $kk) (i32.const 1)))
                    (br $k1)))
                (local.set $pc (i32.add (local.get $cRow) (i32.shl (local.get $j) (i32.const 2))))
                (f32.store (local.get $pc) (local.get $s0))
                (local.set $pc (i32.add (local.get $pc) (local.get $ldc)))
                (f32.store (local.get $pc) (local.get $s1))
                (local.set $pc (i32.add (local.get $pc) (local.get $ldc)))
                (f32.store (local.get $pc) (local.get $s2))
                (local.set $pc (i32.add (local.get $pc) (local.get $ldc)))
                (f32.store (local.get $pc) (local.get $s3))
                (local.set $j (i32.add (local.get $j) (i32.const 1)))
                (br $cols1)))
            (local.set $i (i32.add (local.get $i) (i32.const 4)))
            (br $rows4)))
        ;; the last rows one at a time
        (block $doneRows
          (loop $rows1
            (br_if $doneRows (i32.ge_u (local.get $i) (local.get $m)))
            (local.set $aRow (i32.add (local.get $aMat) (i32.mul (local.get $i) (local.get $rs))))
            (local.set $cRow (i32.add (local.get $cMat) (i32.mul (local.get $i) (local.get $ldc))))
            (local.set $j (local.get $jp))
            (block $done8r
              (loop $cols8r
                (br_if $done8r (i32.gt_u (i32.add (local.get $j) (i32.const 8)) (local.get $jEnd)))
                (local.set $c00 (v128.const i32x4 0 0 0 0))
                (local.set $c01 (v128.const i32x4 0 0 0 0))
                (local.set $pa (local.get $aRow))
                (local.set $pb (i32.add (local.get $bMat) (i32.shl (local.get $j) (i32.const 2))))
                (local.set $kk (local.get $k))
                (block $doneK8r
                  (loop $k8r
                    (br_if $doneK8r (i32.eqz (local.get $kk)))
                    (local.set $x (v128.load32_splat (local.get $pa)))
                    (local.set $c00 (f32x4.add (local.get $c00) (f32x4.mul (local.get $x) (v128.load align=4 (local.get $pb)))))
                    (local.set $c01 (f32x4.add (local.get $c01) (f32x4.mul (local.get $x) (v128.load offset=16 align=4 (local.get $pb)))))
                    (local.set $pa (i32.add (local.get $pa) (local.get $cs)))
                    (local.set $pb (i32.add (local.get $pb) (local.get $ldb)))
                    (local.set $kk (i32.sub (local.get $kk) (i32.const 1)))
                    (br $k8r)))
                (local.set $pc (i32.add (local.get $cRow) (i32.shl (local.get $j) (i32.const 2))))
                (v128.store align=4 (local.get $pc) (local.get $c00))
                (v128.store offset=16 align=4 (local.get $pc) (local.get $c01))
                (local.set $j (i32.add (local.get $j) (i32.const 8)))
                (br $cols8r)))
            (block $done4r
              (loop $cols4r
                (br_if $done4r (i32.gt_u (i32.add (local.get $j) (i32.const 4)) (local.get $jEnd)))
                (local.set $c00 (v128.const i32x4 0 0 0 0))
                (local.set $pa (local.get $aRow))
                (local.set $pb (i32.add (local.get $bMat) (i32.shl (local.get $j) (i32.const 2))))
                (local.set $kk (local.get $k))
                (block $doneK4r
                  (loop $k4r
                    (br_if $doneK4r (i32.eqz (local.get $kk)))
                    (local.set $c00 (f32x4.add (local.get $c00) (f32x4.mul (v128.load32_splat (local.get $pa)) (v128.load align=4 (local.get $pb)))))
                    (local.set $pa (i32.add (local.get $pa) (local.get $cs)))
                    (local.set $pb (i32.add (local.get $pb) (local.get $ldb)))
                    (local.set $kk (i32.sub (local.get $kk) (i32.const 1)))
                    (br $k4r)))
                (v128.store align=4 (i32.add (local.get $cRow) (i32.shl (local.get $j) (i32.const 2))) (local.get $c00))
                (local.set $j (i32.add (local.get $j) (i32.const 4)))
                (br $cols4r)))
            (block $done1r
              (loop $cols1r
                (br_if $done1r (i32.ge_u (local.get $j) (local.get $jEnd)))
                (local.set $s0 (f32.const 0))
                (local.set $pa (local.get $aRow))
                (local.set $pb (i32.add (local.get $bMat) (i32.shl (local.get $j) (i32.const 2))))
                (local.set $kk (local.get $k))
                (block $doneK1r
                  (loop $k1r
                    (br_if $doneK1r (i32.eqz (local.get $kk)))
                    (local.set $s0 (f32.add (local.get $s0) (f32.mul (f32.load (local.get $pa)) (f32.load (local.get $pb)))))
                    (local.set $pa (i32.add (local.get $pa) (local.get $cs)))
                    (local.set $pb (i32.add (local.get $pb) (local.get $ldb)))
                    (local.set $kk (i32.sub (local.get $kk) (i32.const 1)))
                    (br $k1r)))
                (f32.store (i32.add (local.get $cRow) (i32.shl (local.get $j) (i32.const 2))) (local.get $s0))
                (local.set $j (i32.add (local.get $j) (i32.const 1)))
                (br $cols1r)))
            (local.set $i (i32.add (local.get $i) (i32.const 1)))
            (br $rows1)))
        (local.set $jp (i32.add (local.get $jp) (local.get $panel)))
        (br $panels)))
        (local.set $bi (i32.add (local.get $bi) (i32.const 1)))
        (br $batchLoop)))))
