;; Swap the two middle axes of a (batch, M, N, E) array of 4-byte values, with WebAssembly SIMD:
;;
;;   Y[b, j, i, :] = X[b, i, j, :]      b < batch, i < M, j < N; Y is (batch, N, M, E)
;;
;; It runs inside the tfjs wasm backend's own memory (imported), on the tensors' heap offsets.
;; E = 1 is a batch of matrix transposes (Kᵀ in Q·Kᵀ, the operands of backprop's products): 4×4
;; blocks are moved with shuffles, 16 columns of X at a time, so each line of X is read once while Y
;; is written as 16 sequential streams. E > 1 moves runs of E values (splitting and merging heads,
;; (B, T, H, d) ↔ (B, H, T, d)), 16 bytes at a time while 4 or more values are left.
;; Values are moved as bits (never as floats), so any 4-byte type comes out unchanged.
(module
  (import "env" "memory" (memory 0))

  (func (export "transpose")
    (param $x i32) (param $y i32) (param $batch i32) (param $m i32) (param $n i32) (param $e i32)
    (local $bi i32) (local $i i32) (local $j i32) (local $j0 i32) (local $jEnd i32) (local $k i32)
    (local $m4 i32) (local $n4 i32) (local $rowIn i32) (local $rowOut i32) (local $mat i32)
    (local $xb i32) (local $yb i32) (local $p i32) (local $q i32) (local $run i32)
    (local $r0 v128) (local $r1 v128) (local $r2 v128) (local $r3 v128)
    (local $t0 v128) (local $t1 v128) (local $t2 v128) (local $t3 v128)
    (local.set $mat (i32.shl (i32.mul (i32.mul (local.get $m) (local.get $n)) (local.get $e)) (i32.const 2)))
    (local.set $bi (i32.const 0))
    (block $doneBatch
      (loop $batchLoop
        (br_if $doneBatch (i32.ge_u (local.get $bi) (local.get $batch)))
        (local.set $xb (i32.add (local.get $x) (i32.mul (local.get $bi) (local.get $mat))))
        (local.set $yb (i32.add (local.get $y) (i32.mul (local.get $bi) (local.get $mat))))
        (if (i32.eq (local.get $e) (i32.const 1))
          (then
            (local.set $rowIn (i32.shl (local.get $n) (i32.const 2)))
            (local.set $rowOut (i32.shl (local.get $m) (i32.const 2)))
            (local.set $m4 (i32.and (local.get $m) (i32.const -4)))
            (local.set $n4 (i32.and (local.get $n) (i32.const -4)))
            ;; 4×4 blocks, in groups of up to 16 columns
            (local.set $j0 (i32.const 0))
            (block $doneGroups
              (loop $groupLoop
                (br_if $doneGroups (i32.ge_u (local.get $j0) (local.get $n4)))
                (local.set $jEnd (i32.add (local.get $j0) (i32.const 16)))
                (if (i32.gt_u (local.get $jEnd) (local.get $n4)) (then (local.set $jEnd (local.get $n4))))
                (local.set $i (i32.const 0))
                (block $doneRows
                  (loop $rowLoop
                    (br_if $doneRows (i32.ge_u (local.get $i) (local.get $m4)))
                    (local.set $j (local.get $j0))
                    (block $doneBlocks
                      (loop $blockLoop
                        (br_if $doneBlocks (i32.ge_u (local.get $j) (local.get $jEnd)))
                        ;; rows i … i+3 of X at columns j … j+3
                        (local.set $p (i32.add (i32.add (local.get $xb) (i32.mul (local.get $i) (local.get $rowIn))) (i32.shl (local.get $j) (i32.const 2))))
                        (local.set $r0 (v128.load align=4 (local.get $p)))
                        (local.set $r1 (v128.load align=4 (i32.add (local.get $p) (local.get $rowIn))))
                        (local.set $r2 (v128.load align=4 (i32.add (local.get $p) (i32.shl (local.get $rowIn) (i32.const 1)))))
                        (local.set $r3 (v128.load align=4 (i32.add (local.get $p) (i32.mul (local.get $rowIn) (i32.const 3)))))
                        ;; t0 = a0 b0 a1 b1, t1 = a2 b2 a3 b3, t2 = c0 d0 c1 d1, t3 = c2 d2 c3 d3
                        (local.set $t0 (i8x16.shuffle 0 1 2 3 16 17 18 19 4 5 6 7 20 21 22 23 (local.get $r0) (local.get $r1)))
                        (local.set $t1 (i8x16.shuffle 8 9 10 11 24 25 26 27 12 13 14 15 28 29 30 31 (local.get $r0) (local.get $r1)))
                        (local.set $t2 (i8x16.shuffle 0 1 2 3 16 17 18 19 4 5 6 7 20 21 22 23 (local.get $r2) (local.get $r3)))
                        (local.set $t3 (i8x16.shuffle 8 9 10 11 24 25 26 27 12 13 14 15 28 29 30 31 (local.get $r2) (local.get $r3)))
                        ;; rows j … j+3 of Y at columns i … i+3: a0 b0 c0 d0, a1 b1 c1 d1, …
                        (local.set $q (i32.add (i32.add (local.get $yb) (i32.mul (local.get $j) (local.get $rowOut))) (i32.shl (local.get $i) (i32.const 2))))
                        (v128.store align=4 (local.get $q)
                          (i8x16.shuffle 0 1 2 3 4 5 6 7 16 17 18 19 20 21 22 23 (local.get $t0) (local.get $t2)))
                        (v128.store align=4 (i32.add (local.get $q) (local.get $rowOut))
                          (i8x16.shuffle 8 9 10 11 12 13 14 15 24 25 26 27 28 29 30 31 (local.get $t0) (local.get $t2)))
                        (v128.store align=4 (i32.add (local.get $q) (i32.shl (local.get $rowOut) (i32.const 1)))
                          (i8x16.shuffle 0 1 2 3 4 5 6 7 16 17 18 19 20 21 22 23 (local.get $t1) (local.get $t3)))
                        (v128.store align=4 (i32.add (local.get $q) (i32.mul (local.get $rowOut) (i32.const 3)))
                          (i8x16.shuffle 8 9 10 11 12 13 14 15 24 25 26 27 28 29 30 31 (local.get $t1) (local.get $t3)))
                        (local.set $j (i32.add (local.get $j) (i32.const 4)))
                        (br $blockLoop)))
                    (local.set $i (i32.add (local.get $i) (i32.const 4)))
                    (br $rowLoop)))
                (local.set $j0 (local.get $jEnd))
                (br $groupLoop)))
            ;; the last M mod 4 rows of X, every column, one value at a time
            (local.set $i (local.get $m4))
            (block $doneTailRows
              (loop $tailRowLoop
                (br_if $doneTailRows (i32.ge_u (local.get $i) (local.get $m)))
                (local.set $j (i32.const 0))
                (block $doneTailRowCols
                  (loop $tailRowColLoop
                    (br_if $doneTailRowCols (i32.ge_u (local.get $j) (local.get $n)))
                    (i32.store
                      (i32.add (local.get $yb) (i32.shl (i32.add (i32.mul (local.get $j) (local.get $m)) (local.get $i)) (i32.const 2)))
                      (i32.load (i32.add (local.get $xb) (i32.shl (i32.add (i32.mul (local.get $i) (local.get $n)) (local.get $j)) (i32.const 2)))))
                    (local.set $j (i32.add (local.get $j) (i32.const 1)))
                    (br $tailRowColLoop)))
                (local.set $i (i32.add (local.get $i) (i32.const 1)))
                (br $tailRowLoop)))
            ;; the last N mod 4 columns of X, in the rows the blocks covered
            (local.set $j (local.get $n4))
            (block $doneTailCols
              (loop $tailColLoop
                (br_if $doneTailCols (i32.ge_u (local.get $j) (local.get $n)))
                (local.set $i (i32.const 0))
                (block $doneTailColRows
                  (loop $tailColRowLoop
                    (br_if $doneTailColRows (i32.ge_u (local.get $i) (local.get $m4)))
                    (i32.store
                      (i32.add (local.get $yb) (i32.shl (i32.add (i32.mul (local.get $j) (local.get $m)) (local.get $i)) (i32.const 2)))
                      (i32.load (i32.add (local.get $xb) (i32.shl (i32.add (i32.mul (local.get $i) (local.get $n)) (local.get $j)) (i32.const 2)))))
                    (local.set $i (i32.add (local.get $i) (i32.const 1)))
                    (br $tailColRowLoop)))
                (local.set $j (i32.add (local.get $j) (i32.const 1)))
                (br $tailColLoop))))
          (else
            ;; runs of E values: X is read in order, each run written to its place in Y
            (local.set $run (i32.shl (local.get $e) (i32.const 2)))
            (local.set $p (local.get $xb))
            (local.set $i (i32.const 0))
            (block $doneRunRows
              (loop $runRowLoop
                (br_if $doneRunRows (i32.ge_u (local.get $i) (local.get $m)))
                (local.set $j (i32.const 0))
                (block $doneRunCols
                  (loop $runColLoop
                    (br_if $doneRunCols (i32.ge_u (local.get $j) (local.get $n)))
                    (local.set $q (i32.add (local.get $yb) (i32.mul (i32.add (i32.mul (local.get $j) (local.get $m)) (local.get $i)) (local.get $run))))
                    (local.set $k (local.get $e))
                    (block $doneVec
                      (loop $vecLoop
                        (br_if $doneVec (i32.lt_u (local.get $k) (i32.const 4)))
                        (v128.store align=4 (local.get $q) (v128.load align=4 (local.get $p)))
                        (local.set $p (i32.add (local.get $p) (i32.const 16)))
                        (local.set $q (i32.add (local.get $q) (i32.const 16)))
                        (local.set $k (i32.sub (local.get $k) (i32.const 4)))
                        (br $vecLoop)))
                    (block $doneOne
                      (loop $oneLoop
                        (br_if $doneOne (i32.eqz (local.get $k)))
                        (i32.store (local.get $q) (i32.load (local.get $p)))
                        (local.set $p (i32.add (local.get $p) (i32.const 4)))
                        (local.set $q (i32.add (local.get $q) (i32.const 4)))
                        (local.set $k (i32.sub (local.get $k) (i32.const 1)))
                        (br $oneLoop)))
                    (local.set $j (i32.add (local.get $j) (i32.const 1)))
                    (br $runColLoop)))
                (local.set $i (i32.add (local.get $i) (i32.const 1)))
                (br $runRowLoop)))))
        (local.set $bi (i32.add (local.get $bi) (i32.const 1)))
        (br $batchLoop)))))
