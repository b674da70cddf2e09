;; Column sums of a row-major (rows, d) float32 matrix: out[j] = Σ_i x[i, j], the rows added in
;; order starting from 0 (as the product ones(1, rows)·x computes them, to the bit). Four columns at
;; a time with SIMD, the last d mod 4 one at a time.
;;
;; segmentSum: the same sums by segment, out[s, j] = Σ_{i: ids[i] = s} x[i, j] (the gradient of an
;; embedding lookup), the rows added in order starting from 0; rows whose id is outside
;; [0, segments) are skipped.
(module
  (import "env" "memory" (memory 0))

  (func (export "sumRows") (param $x i32) (param $out i32) (param $rows i32) (param $d i32)
    (local $j i32) (local $i i32) (local $p i32) (local $acc v128) (local $s f32) (local $rowBytes i32) (local $d4 i32)
    (local.set $rowBytes (i32.shl (local.get $d) (i32.const 2)))
    (local.set $d4 (i32.and (local.get $d) (i32.const -4)))
    (local.set $j (i32.const 0))
    (block $done4 (loop $cols4
      (br_if $done4 (i32.ge_u (local.get $j) (local.get $d4)))
      (local.set $acc (v128.const i32x4 0 0 0 0))
      (local.set $p (i32.add (local.get $x) (i32.shl (local.get $j) (i32.const 2))))
      (local.set $i (local.get $rows))
      (block $doneRows (loop $rowLoop
        (br_if $doneRows (i32.eqz (local.get $i)))
        (local.set $acc (f32x4.add (local.get $acc) (v128.load align=4 (local.get $p))))
        (local.set $p (i32.add (local.get $p) (local.get $rowBytes)))
        (local.set $i (i32.sub (local.get $i) (i32.const 1)))
        (br $rowLoop)))
      (v128.store align=4 (i32.add (local.get $out) (i32.shl (local.get $j) (i32.const 2))) (local.get $acc))
      (local.set $j (i32.add (local.get $j) (i32.const 4)))
      (br $cols4)))
    (block $done1 (loop $cols1
      (br_if $done1 (i32.ge_u (local.get $j) (local.get $d)))
      (local.set $s (f32.const 0))
      (local.set $p (i32.add (local.get $x) (i32.shl (local.get $j) (i32.const 2))))
      (local.set $i (local.get $rows))
      (block $doneRows1 (loop $rowLoop1
        (br_if $doneRows1 (i32.eqz (local.get $i)))
        (local.set $s (f32.add (local.get $s) (f32.load (local.get $p))))
        (local.set $p (i32.add (local.get $p) (local.get $rowBytes)))
        (local.set $i (i32.sub (local.get $i) (i32.const 1)))
        (br $rowLoop1)))
      (f32.store (i32.add (local.get $out) (i32.shl (local.get $j) (i32.const 2))) (local.get $s))
      (local.set $j (i32.add (local.get $j) (i32.const 1)))
      (br $cols1))))

  (func (export "segmentSum") (param $x i32) (param $ids i32) (param $out i32) (param $rows i32) (param $d i32) (param $segments i32)
    (local $p i32) (local $q i32) (local $end i32) (local $end4 i32) (local $id i32) (local $rowBytes i32)
    (local.set $rowBytes (i32.shl (local.get $d) (i32.const 2)))
    ;; out = 0
    (local.set $p (local.get $out))
    (local.set $end (i32.add (local.get $out) (i32.mul (local.get $segments) (local.get $rowBytes))))
    (block $zeroed (loop $zero
      (br_if $zeroed (i32.ge_u (local.get $p) (local.get $end)))
      (f32.store (local.get $p) (f32.const 0))
      (local.set $p (i32.add (local.get $p) (i32.const 4)))
      (br $zero)))
    (block $doneRows (loop $rowLoop
      (br_if $doneRows (i32.eqz (local.get $rows)))
      (local.set $id (i32.load (local.get $ids)))
      (if (i32.lt_u (local.get $id) (local.get $segments))
        (then
          (local.set $q (i32.add (local.get $out) (i32.mul (local.get $id) (local.get $rowBytes))))
          (local.set $p (local.get $x))
          (local.set $end (i32.add (local.get $x) (local.get $rowBytes)))
          (local.set $end4 (i32.add (local.get $x) (i32.shl (i32.and (local.get $d) (i32.const -4)) (i32.const 2))))
          (block $done4 (loop $cols4
            (br_if $done4 (i32.ge_u (local.get $p) (local.get $end4)))
            (v128.store align=4 (local.get $q) (f32x4.add (v128.load align=4 (local.get $q)) (v128.load align=4 (local.get $p))))
            (local.set $p (i32.add (local.get $p) (i32.const 16)))
            (local.set $q (i32.add (local.get $q) (i32.const 16)))
            (br $cols4)))
          (block $done1 (loop $cols1
            (br_if $done1 (i32.ge_u (local.get $p) (local.get $end)))
            (f32.store (local.get $q) (f32.add (f32.load (local.get $q)) (f32.load (local.get $p))))
            (local.set $p (i32.add (local.get $p) (i32.const 4)))
            (local.set $q (i32.add (local.get $q) (i32.const 4)))
            (br $cols1)))))
      (local.set $x (i32.add (local.get $x) (local.get $rowBytes)))
      (local.set $ids (i32.add (local.get $ids) (i32.const 4)))
      (local.set $rows (i32.sub (local.get $rows) (i32.const 1)))
      (br $rowLoop))))
)
