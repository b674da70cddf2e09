;; Layer normalisation over the last axis with WebAssembly SIMD: the forward pass and its gradient,
;; a few passes over each row (see ops/layer-norm.ts for the formulas). Rows are d floats, d a
;; multiple of 4; pointers are byte offsets into the wasm backend's memory. The means are summed one
;; value at a time in order and divided by d, as the backend's Mean kernel does, so every value
;; equals the one the same formulas give in tf ops, bit for bit.
(module
  (import "env" "memory" (memory 0))

  ;; The mean of n floats at p (n > 0), summed in order.
  (func $mean (param $p i32) (param $n i32) (result f32)
    (local $s f32) (local $end i32)
    (local.set $end (i32.add (local.get $p) (i32.shl (local.get $n) (i32.const 2))))
    (block $done (loop $l
      (br_if $done (i32.ge_u (local.get $p) (local.get $end)))
      (local.set $s (f32.add (local.get $s) (f32.load (local.get $p))))
      (local.set $p (i32.add (local.get $p) (i32.const 4)))
      (br $l)))
    (f32.div (local.get $s) (f32.convert_i32_u (local.get $n))))

;; y = x̂·γ + β with x̂ = (x − μ)·r, r = 1/√(σ² + ε); also writes x̂ (rows, d) and r (rows).
  ;; The squares (x − μ)² pass through x̂'s row before σ² is taken.
  (func (export "forward")
    (param $x i32) (param $gamma i32) (param $beta i32) (param $y i32) (param $xhat i32) (param $rstd i32)
    (param $rows i32) (param $d i32) (param $eps f32)
    (local $row i32) (local $j i32) (local $bytes i32) (local $c v128) (local $mean v128) (local $r v128) (local $rs f32)
    (local.set $bytes (i32.shl (local.get $d) (i32.const 2)))
    (local.set $row (i32.const 0))
    (block $done (loop $rowLoop
      (br_if $done (i32.ge_u (local.get $row) (local.get $rows)))
      (local.set $mean (f32x4.splat (call $mean (local.get $x) (local.get $d))))
      (local.set $j (i32.const 0))
      (block $d2 (loop $l2
        (br_if $d2 (i32.ge_u (local.get $j) (local.get $bytes)))
        (local.set $c (f32x4.sub (v128.load align=4 (i32.add (local.get $x) (local.get $j))) (local.get $mean)))
        (v128.store align=4 (i32.add (local.get $xhat) (local.get $j)) (f32x4.mul (local.get $c) (local.get $c)))
        (local.set $j (i32.add (local.get $j) (i32.const 16)))
        (br $l2)))
      (local.set $rs (f32.div (f32.const 1) (f32.sqrt (f32.add (call $mean (local.get $xhat) (local.get $d)) (local.get $eps)))))
      (f32.store (local.get $rstd) (local.get $rs))
      (local.set $r (f32x4.splat (local.get $rs)))
      (local.set $j (i32.const 0))
      (block $d3 (loop $l3
        (br_if $d3 (i32.ge_u (local.get $j) (local.get $bytes)))
        (local.set $c (f32x4.mul (f32x4.sub (v128.load align=4 (i32.add (local.get $x) (local.get $j))) (local.get $mean)) (local.get $r)))
        (v128.store align=4 (i32.add (local.get $xhat) (local.get $j)) (local.get $c))
        (v128.store align=4 (i32.add (local.get $y) (local.get $j))
          (f32x4.add (f32x4.mul (local.get $c) (v128.load align=4 (i32.add (local.get $gamma) (local.get $j)))) (v128.load align=4 (i32.add (local.get $beta) (local.get $j)))))
        (local.set $j (i32.add (local.get $j) (i32.const 16)))
        (br $l3)))
      (local.set $x (i32.add (local.get $x) (local.get $bytes)))
      (local.set $y (i32.add (local.get $y) (local.get $bytes)))
      (local.set $xhat (i32.add (local.get $xhat) (local.get $bytes)))
      (local.set $rstd (i32.add (local.get $rstd) (i32.const 4)))
      (local.set $row (i32.add (local.get $row) (i32.const 1)))
      (br $rowLoop))))

  ;; With g = dy·γ: dx = r·((g − mean(g)) − x̂·mean(g·x̂)), dγ = Σ_rows dy·x̂, dβ = Σ_rows dy (row sums
  ;; in row order). g and then g·x̂ pass through dx's row before their means are taken.
  (func (export "backward")
    (param $dy i32) (param $xhat i32) (param $rstd i32) (param $gamma i32) (param $dx i32) (param $dgamma i32) (param $dbeta i32)
    (param $rows i32) (param $d i32)
    (local $row i32) (local $j i32) (local $bytes i32) (local $g v128) (local $h v128) (local $dyv v128)
    (local $mg v128) (local $mgx v128) (local $r v128)
    (local.set $bytes (i32.shl (local.get $d) (i32.const 2)))
    ;; dγ = dβ = 0
    (local.set $j (i32.const 0))
    (block $d0 (loop $l0
      (br_if $d0 (i32.ge_u (local.get $j) (local.get $bytes)))
      (v128.store align=4 (i32.add (local.get $dgamma) (local.get $j)) (v128.const i32x4 0 0 0 0))
      (v128.store align=4 (i32.add (local.get $dbeta) (local.get $j)) (v128.const i32x4 0 0 0 0))
      (local.set $j (i32.add (local.get $j) (i32.const 16)))
      (br $l0)))
    (local.set $row (i32.const 0))
    (block $done (loop $rowLoop
      (br_if $done (i32.ge_u (local.get $row) (local.get $rows)))
      ;; g into dx; dγ, dβ
      (local.set $j (i32.const 0))
      (block $d1 (loop $l1
        (br_if $d1 (i32.ge_u (local.get $j) (local.get $bytes)))
        (local.set $dyv (v128.load align=4 (i32.add (local.get $dy) (local.get $j))))
        (v128.store align=4 (i32.add (local.get $dx) (local.get $j)) (f32x4.mul (local.get $dyv) (v128.load align=4 (i32.add (local.get $gamma) (local.get $j)))))
        (v128.store align=4 (i32.add (local.get $dgamma) (local.get $j))
          (f32x4.add (v128.load align=4 (i32.add (local.get $dgamma) (local.get $j))) (f32x4.mul (local.get $dyv) (v128.load align=4 (i32.add (local.get $xhat) (local.get $j))))))
        (v128.store align=4 (i32.add (local.get $dbeta) (local.get $j))
          (f32x4.add (v128.load align=4 (i32.add (local.get $dbeta) (local.get $j))) (local.get $dyv)))
        (local.set $j (i32.add (local.get $j) (i32.const 16)))
        (br $l1)))
      (local.set $mg (f32x4.splat (call $mean (local.get $dx) (local.get $d))))
      ;; g·x̂ into dx
      (local.set $j (i32.const 0))
      (block $d2 (loop $l2
        (br_if $d2 (i32.ge_u (local.get $j) (local.get $bytes)))
        (v128.store align=4 (i32.add (local.get $dx) (local.get $j))
          (f32x4.mul (v128.load align=4 (i32.add (local.get $dx) (local.get $j))) (v128.load align=4 (i32.add (local.get $xhat) (local.get $j)))))
        (local.set $j (i32.add (local.get $j) (i32.const 16)))
        (br $l2)))
      (local.set $mgx (f32x4.splat (call $mean (local.get $dx) (local.get $d))))
      (local.set $r (v128.load32_splat (local.get $rstd)))
      (local.set $j (i32.const 0))
      (block $d3 (loop $l3
        (br_if $d3 (i32.ge_u (local.get $j) (local.get $bytes)))
        (local.set $g (f32x4.mul (v128.load align=4 (i32.add (local.get $dy) (local.get $j))) (v128.load align=4 (i32.add (local.get $gamma) (local.get $j)))))
        (v128.store align=4 (i32.add (local.get $dx) (local.get $j))
          (f32x4.mul (local.get $r)
            (f32x4.sub (f32x4.sub (local.get $g) (local.get $mg)) (f32x4.mul (v128.load align=4 (i32.add (local.get $xhat) (local.get $j))) (local.get $mgx)))))
        (local.set $j (i32.add (local.get $j) (i32.const 16)))
        (br $l3)))
      (local.set $dy (i32.add (local.get $dy) (local.get $bytes)))
      (local.set $xhat (i32.add (local.get $xhat) (local.get $bytes)))
      (local.set $dx (i32.add (local.get $dx) (local.get $bytes)))
      (local.set $rstd (i32.add (local.get $rstd) (i32.const 4)))
      (local.set $row (i32.add (local.get $row) (i32.const 1)))
      (br $rowLoop)))))
