;; Column sums of a row-major (rows, d) float32 matrix: out[j] = Σ_i x[i, j], the rows added in
;; order starting from 0 (as the product ones(1, rows)·x computes them, to the bit). Four columns at
;; a time with SIMD, the last d mod 4 one at a time.
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
      (br $cols1)))))
