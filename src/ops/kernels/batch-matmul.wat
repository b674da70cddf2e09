;; Batched matrix product for small matrices, with WebAssembly SIMD.
;;
;;   C[b] (M, N) = A[b] (M, K) · B[b] (K, N)      row-major float32, b = 0 … batch − 1
;;
;; It runs inside the tfjs wasm backend's own memory (imported), on the tensors' heap offsets.
;; Each row of C is built 16 columns at a time in four f32x4 accumulators: for every k, A[i, k] is
;; broadcast and multiplied with the 16 values of row k of B. Leftover columns go 4 at a time, then
;; one at a time. Every C[i, j] is summed over k in order, as a plain loop would.
(module
  (import "env" "memory" (memory 0))

  ;; a, b, c: byte offsets; strideA, strideB: bytes between consecutive matrices of A and B
  ;; (0 repeats the same matrix for every b).
  (func (export "bmm")
    (param $a i32) (param $b i32) (param $c i32)
    (param $batch i32) (param $m i32) (param $k i32) (param $n i32)
    (param $strideA i32) (param $strideB i32)
    (local $bi i32) (local $i i32) (local $j i32) (local $kk i32)
    (local $aMat i32) (local $bMat i32) (local $aRow i32) (local $cRow i32)
    (local $pa i32) (local $pb i32) (local $rowBytes i32)
    (local $x v128) (local $acc0 v128) (local $acc1 v128) (local $acc2 v128) (local $acc3 v128)
    (local $s f32)
    (local.set $rowBytes (i32.shl (local.get $n) (i32.const 2)))
    (local.set $cRow (local.get $c))
    (local.set $bi (i32.const 0))
    (block $doneBatch
      (loop $batchLoop
        (br_if $doneBatch (i32.ge_u (local.get $bi) (local.get $batch)))
        (local.set $aMat (i32.add (local.get $a) (i32.mul (local.get $bi) (local.get $strideA))))
        (local.set $bMat (i32.add (local.get $b) (i32.mul (local.get $bi) (local.get $strideB))))
        (local.set $aRow (local.get $aMat))
        (local.set $i (i32.const 0))
        (block $doneRows
          (loop $rowLoop
            (br_if $doneRows (i32.ge_u (local.get $i) (local.get $m)))
            (local.set $j (i32.const 0))
            ;; 16 columns at a time
            (block $done16
              (loop $loop16
                (br_if $done16 (i32.gt_u (i32.add (local.get $j) (i32.const 16)) (local.get $n)))
                (local.set $acc0 (v128.const i32x4 0 0 0 0))
                (local.set $acc1 (v128.const i32x4 0 0 0 0))
                (local.set $acc2 (v128.const i32x4 0 0 0 0))
                (local.set $acc3 (v128.const i32x4 0 0 0 0))
                (local.set $pa (local.get $aRow))
                (local.set $pb (i32.add (local.get $bMat) (i32.shl (local.get $j) (i32.const 2))))
                (local.set $kk (local.get $k))
                (block $doneK16
                  (loop $k16
                    (br_if $doneK16 (i32.eqz (local.get $kk)))
                    (local.set $x (f32x4.splat (f32.load (local.get $pa))))
                    (local.set $acc0 (f32x4.add (local.get $acc0) (f32x4.mul (local.get $x) (v128.load offset=0 align=4 (local.get $pb)))))
                    (local.set $acc1 (f32x4.add (local.get $acc1) (f32x4.mul (local.get $x) (v128.load offset=16 align=4 (local.get $pb)))))
                    (local.set $acc2 (f32x4.add (local.get $acc2) (f32x4.mul (local.get $x) (v128.load offset=32 align=4 (local.get $pb)))))
                    (local.set $acc3 (f32x4.add (local.get $acc3) (f32x4.mul (local.get $x) (v128.load offset=48 align=4 (local.get $pb)))))
                    (local.set $pa (i32.add (local.get $pa) (i32.const 4)))
                    (local.set $pb (i32.add (local.get $pb) (local.get $rowBytes)))
                    (local.set $kk (i32.sub (local.get $kk) (i32.const 1)))
                    (br $k16)))
                (local.set $pb (i32.add (local.get $cRow) (i32.shl (local.get $j) (i32.const 2))))
                (v128.store offset=0 align=4 (local.get $pb) (local.get $acc0))
                (v128.store offset=16 align=4 (local.get $pb) (local.get $acc1))
                (v128.store offset=32 align=4 (local.get $pb) (local.get $acc2))
                (v128.store offset=48 align=4 (local.get $pb) (local.get $acc3))
                (local.set $j (i32.add (local.get $j) (i32.const 16)))
                (br $loop16)))
            ;; 4 columns at a time
            (block $done4
              (loop $loop4
                (br_if $done4 (i32.gt_u (i32.add (local.get $j) (i32.const 4)) (local.get $n)))
                (local.set $acc0 (v128.const i32x4 0 0 0 0))
                (local.set $pa (local.get $aRow))
                (local.set $pb (i32.add (local.get $bMat) (i32.shl (local.get $j) (i32.const 2))))
                (local.set $kk (local.get $k))
                (block $doneK4
                  (loop $k4
                    (br_if $doneK4 (i32.eqz (local.get $kk)))
                    (local.set $acc0 (f32x4.add (local.get $acc0) (f32x4.mul (f32x4.splat (f32.load (local.get $pa))) (v128.load align=4 (local.get $pb)))))
                    (local.set $pa (i32.add (local.get $pa) (i32.const 4)))
                    (local.set $pb (i32.add (local.get $pb) (local.get $rowBytes)))
                    (local.set $kk (i32.sub (local.get $kk) (i32.const 1)))
                    (br $k4)))
                (v128.store align=4 (i32.add (local.get $cRow) (i32.shl (local.get $j) (i32.const 2))) (local.get $acc0))
                (local.set $j (i32.add (local.get $j) (i32.const 4)))
                (br $loop4)))
            ;; the last columns one at a time
            (block $done1
              (loop $loop1
                (br_if $done1 (i32.ge_u (local.get $j) (local.get $n)))
                (local.set $s (f32.const 0))
                (local.set $pa (local.get $aRow))
                (local.set $pb (i32.add (local.get $bMat) (i32.shl (local.get $j) (i32.const 2))))
                (local.set $kk (local.get $k))
                (block $doneK1
                  (loop $k1
                    (br_if $doneK1 (i32.eqz (local.get $kk)))
                    (local.set $s (f32.add (local.get $s) (f32.mul (f32.load (local.get $pa)) (f32.load (local.get $pb)))))
                    (local.set $pa (i32.add (local.get $pa) (i32.const 4)))
                    (local.set $pb (i32.add (local.get $pb) (local.get $rowBytes)))
                    (local.set $kk (i32.sub (local.get $kk) (i32.const 1)))
                    (br $k1)))
                (f32.store (i32.add (local.get $cRow) (i32.shl (local.get $j) (i32.const 2))) (local.get $s))
                (local.set $j (i32.add (local.get $j) (i32.const 1)))
                (br $loop1)))
            (local.set $aRow (i32.add (local.get $aRow) (i32.shl (local.get $k) (i32.const 2))))
            (local.set $cRow (i32.add (local.get $cRow) (local.get $rowBytes)))
            (local.set $i (i32.add (local.get $i) (i32.const 1)))
            (br $rowLoop)))
        (local.set $bi (i32.add (local.get $bi) (i32.const 1)))
        (br $batchLoop)))))
