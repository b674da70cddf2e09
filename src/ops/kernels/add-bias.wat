;; A bias added to every row of a row-major (rows, n) float32 matrix, in place: c[i, j] += bias[j],
;; optionally followed by ReLU; and the ReLU's gradient. Each sum is the one float addition an Add
;; kernel makes, and ReLU is f32x4.max(x, 0) as in the backend's Relu kernel (−0 becomes +0, NaN
;; stays NaN), so the results are the same to the bit. Four columns at a time with SIMD, the last
;; n mod 4 one at a time.
(module
  (import "env" "memory" (memory 0))

  (func (export "addBiasRelu") (param $c i32) (param $bias i32) (param $rows i32) (param $n i32)
    (local $end i32) (local $end4 i32) (local $p i32)
    (call $addBias (local.get $c) (local.get $bias) (local.get $rows) (local.get $n))
    (local.set $end (i32.add (local.get $c) (i32.shl (i32.mul (local.get $rows) (local.get $n)) (i32.const 2))))
    (local.set $end4 (i32.add (local.get $c) (i32.and (i32.shl (i32.mul (local.get $rows) (local.get $n)) (i32.const 2)) (i32.const -16))))
    (local.set $p (local.get $c))
    (block $done4 (loop $four
      (br_if $done4 (i32.ge_u (local.get $p) (local.get $end4)))
      (v128.store align=4 (local.get $p) (f32x4.max (v128.load align=4 (local.get $p)) (v128.const f32x4 0 0 0 0)))
      (local.set $p (i32.add (local.get $p) (i32.const 16)))
      (br $four)))
    (block $done1 (loop $one
      (br_if $done1 (i32.ge_u (local.get $p) (local.get $end)))
      (f32.store (local.get $p) (f32.max (f32.load (local.get $p)) (f32.const 0)))
      (local.set $p (i32.add (local.get $p) (i32.const 4)))
      (br $one))))

  ;; dx = dy · step(y) for y = relu(x): step is 1 where y > 0, NaN where y is NaN, else 0 — the
  ;; backend's Step of x (y > 0 exactly where x > 0), then the one multiplication of a Multiply kernel.
  (func (export "reluGrad") (param $dy i32) (param $y i32) (param $out i32) (param $count i32)
    (local $i i32) (local $count4 i32) (local $v v128) (local $s v128) (local $f f32)
    (local.set $count4 (i32.and (local.get $count) (i32.const -4)))
    (block $done4 (loop $four
      (br_if $done4 (i32.ge_u (local.get $i) (local.get $count4)))
      (local.set $v (v128.load align=4 (i32.add (local.get $y) (i32.shl (local.get $i) (i32.const 2)))))
      (local.set $s (v128.bitselect (v128.const f32x4 1 1 1 1) (v128.const f32x4 0 0 0 0) (f32x4.gt (local.get $v) (v128.const f32x4 0 0 0 0))))
      (local.set $s (v128.bitselect (local.get $v) (local.get $s) (f32x4.ne (local.get $v) (local.get $v))))
      (v128.store align=4 (i32.add (local.get $out) (i32.shl (local.get $i) (i32.const 2)))
        (f32x4.mul (v128.load align=4 (i32.add (local.get $dy) (i32.shl (local.get $i) (i32.const 2)))) (local.get $s)))
      (local.set $i (i32.add (local.get $i) (i32.const 4)))
      (br $four)))
    (block $done1 (loop $one
      (br_if $done1 (i32.ge_u (local.get $i) (local.get $count)))
      (local.set $f (f32.load (i32.add (local.get $y) (i32.shl (local.get $i) (i32.const 2)))))
      (f32.store (i32.add (local.get $out) (i32.shl (local.get $i) (i32.const 2)))
        (f32.mul (f32.load (i32.add (local.get $dy) (i32.shl (local.get $i) (i32.const 2))))
          (select (local.get $f) (select (f32.const 1) (f32.const 0) (f32.gt (local.get $f) (f32.const 0))) (f32.ne (local.get $f) (local.get $f)))))
      (local.set $i (i32.add (local.get $i) (i32.const 1)))
      (br $one))))

  (func $addBias (export "addBias") (param $c i32) (param $bias i32) (param $rows i32) (param $n i32)
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
