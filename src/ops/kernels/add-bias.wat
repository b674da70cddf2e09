;; A bias added to every row of a row-major (rows, n) float32 matrix, in place: c[i, j] += bias[j].
;; Each sum is the one float addition an Add kernel makes, so the result is the same to the bit.
;; Four columns at a time with SIMD, the last n mod 4 one at a time.
(module
  (import "env" "memory" (memory 0))

  (func (export "addBias") (param $c i32) (param $bias i32) (param $rows i32) (param $n i32)
    (local $i i32) (local $j i32) (local $p i32) (local $q i32) (local $n4 i32)
    (local.set $n4 (i32.and (local.get $n) (i32.const -4)))
    (local.set $p (local.get $c))
    (local.set $i (local.get $rows))
    (block $doneRows (loop $rowLoop
      (br_if $doneRows (i32.eqz (local.get $i)))
      (local.set $q (local.get $bias))
      (local.set $j (i32.const 0))
      (block $done4 (loop $cols4
        (br_if $done4 (i32.ge_u (local.get $j) (local.get $n4)))
        (v128.store align=4 (local.get $p) (f32x4.add (v128.load align=4 (local.get $p)) (v128.load align=4 (local.get $q))))
        (local.set $p (i32.add (local.get $p) (i32.const 16)))
        (local.set $q (i32.add (local.get $q) (i32.const 16)))
        (local.set $j (i32.add (local.get $j) (i32.const 4)))
        (br $cols4)))
      (block $done1 (loop $cols1
        (br_if $done1 (i32.ge_u (local.get $j) (local.get $n)))
        (f32.store (local.get $p) (f32.add (f32.load (local.get $p)) (f32.load (local.get $q))))
        (local.set $p (i32.add (local.get $p) (i32.const 4)))
        (local.set $q (i32.add (local.get $q) (i32.const 4)))
        (local.set $j (i32.add (local.get $j) (i32.const 1)))
        (br $cols1)))
      (local.set $i (i32.sub (local.get $i) (i32.const 1)))
      (br $rowLoop)))))
