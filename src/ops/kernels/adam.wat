;; Elementwise kernels of the optimizer step (see src/train/adam.ts), four floats per SIMD operation.
;; Every operation rounds to float32 exactly as the scalar code it stands for, so the results are
;; bit for bit those of tf.train.adam. Pointers are byte offsets into the (shared) memory; n counts
;; floats; a tail of n mod 4 goes one float at a time.
(module
  (import "env" "memory" (memory 1 65536 shared))

  ;; g[i] = g[i] · c
  (func (export "scale") (param $g i32) (param $c f32) (param $n i32)
    (local $end i32) (local $cv v128)
    (local.set $cv (f32x4.splat (local.get $c)))
    (local.set $end (i32.add (local.get $g) (i32.shl (i32.and (local.get $n) (i32.const -4)) (i32.const 2))))
    (block $done4 (loop $loop4
      (br_if $done4 (i32.ge_u (local.get $g) (local.get $end)))
      (v128.store align=4 (local.get $g) (f32x4.mul (v128.load align=4 (local.get $g)) (local.get $cv)))
      (local.set $g (i32.add (local.get $g) (i32.const 16)))
      (br $loop4)))
    (local.set $end (i32.add (local.get $end) (i32.shl (i32.and (local.get $n) (i32.const 3)) (i32.const 2))))
    (block $done1 (loop $loop1
      (br_if $done1 (i32.ge_u (local.get $g) (local.get $end)))
      (f32.store (local.get $g) (f32.mul (f32.load (local.get $g)) (local.get $c)))
      (local.set $g (i32.add (local.get $g) (i32.const 4)))
      (br $loop1))))

  ;; g[i] = g[i] + x[i] · c
  (func (export "addScaled") (param $g i32) (param $x i32) (param $c f32) (param $n i32)
    (local $end i32) (local $cv v128)
    (local.set $cv (f32x4.splat (local.get $c)))
    (local.set $end (i32.add (local.get $g) (i32.shl (i32.and (local.get $n) (i32.const -4)) (i32.const 2))))
    (block $done4 (loop $loop4
      (br_if $done4 (i32.ge_u (local.get $g) (local.get $end)))
      (v128.store align=4 (local.get $g)
        (f32x4.add (v128.load align=4 (local.get $g)) (f32x4.mul (v128.load align=4 (local.get $x)) (local.get $cv))))
      (local.set $g (i32.add (local.get $g) (i32.const 16)))
      (local.set $x (i32.add (local.get $x) (i32.const 16)))
      (br $loop4)))
    (local.set $end (i32.add (local.get $end) (i32.shl (i32.and (local.get $n) (i32.const 3)) (i32.const 2))))
    (block $done1 (loop $loop1
      (br_if $done1 (i32.ge_u (local.get $g) (local.get $end)))
      (f32.store (local.get $g) (f32.add (f32.load (local.get $g)) (f32.mul (f32.load (local.get $x)) (local.get $c))))
      (local.set $g (i32.add (local.get $g) (i32.const 4)))
      (local.set $x (i32.add (local.get $x) (i32.const 4)))
      (br $loop1))))

  ;; g[i] = g[i] + w·x[i] computed in float64 and rounded once to float32: what JavaScript's
  ;; `g[i] += w * x[i]` does on Float32Arrays (w a float64). Two floats per float64 pair.
  (func (export "addWeighted") (param $g i32) (param $x i32) (param $w f64) (param $n i32)
    (local $end i32) (local $wv v128)
    (local.set $wv (f64x2.splat (local.get $w)))
    (local.set $end (i32.add (local.get $g) (i32.shl (i32.and (local.get $n) (i32.const -4)) (i32.const 2))))
    (block $done4 (loop $loop4
      (br_if $done4 (i32.ge_u (local.get $g) (local.get $end)))
      (v128.store align=4 (local.get $g)
        (i8x16.shuffle 0 1 2 3 4 5 6 7 16 17 18 19 20 21 22 23
          (f32x4.demote_f64x2_zero
            (f64x2.add (f64x2.promote_low_f32x4 (v128.load64_zero align=4 (local.get $g)))
                       (f64x2.mul (local.get $wv) (f64x2.promote_low_f32x4 (v128.load64_zero align=4 (local.get $x))))))
          (f32x4.demote_f64x2_zero
            (f64x2.add (f64x2.promote_low_f32x4 (v128.load64_zero offset=8 align=4 (local.get $g)))
                       (f64x2.mul (local.get $wv) (f64x2.promote_low_f32x4 (v128.load64_zero offset=8 align=4 (local.get $x))))))))
      (local.set $g (i32.add (local.get $g) (i32.const 16)))
      (local.set $x (i32.add (local.get $x) (i32.const 16)))
      (br $loop4)))
    (local.set $end (i32.add (local.get $end) (i32.shl (i32.and (local.get $n) (i32.const 3)) (i32.const 2))))
    (block $done1 (loop $loop1
      (br_if $done1 (i32.ge_u (local.get $g) (local.get $end)))
      (f32.store (local.get $g)
        (f32.demote_f64 (f64.add (f64.promote_f32 (f32.load (local.get $g)))
                                 (f64.mul (local.get $w) (f64.promote_f32 (f32.load (local.get $x)))))))
      (local.set $g (i32.add (local.get $g) (i32.const 4)))
      (local.set $x (i32.add (local.get $x) (i32.const 4)))
      (br $loop1))))

  ;; g[i] = 0 + w·g[i] in float64, rounded once to float32: a zero vector after addWeighted(g, g, w),
  ;; without the zeros (a product of −0 comes out +0, as that sum gives it).
  (func (export "weigh") (param $g i32) (param $w f64) (param $n i32)
    (local $end i32) (local $wv v128) (local $zero v128)
    (local.set $wv (f64x2.splat (local.get $w)))
    (local.set $end (i32.add (local.get $g) (i32.shl (i32.and (local.get $n) (i32.const -4)) (i32.const 2))))
    (block $done4 (loop $loop4
      (br_if $done4 (i32.ge_u (local.get $g) (local.get $end)))
      (v128.store align=4 (local.get $g)
        (i8x16.shuffle 0 1 2 3 4 5 6 7 16 17 18 19 20 21 22 23
          (f32x4.demote_f64x2_zero
            (f64x2.add (local.get $zero) (f64x2.mul (local.get $wv) (f64x2.promote_low_f32x4 (v128.load64_zero align=4 (local.get $g))))))
          (f32x4.demote_f64x2_zero
            (f64x2.add (local.get $zero) (f64x2.mul (local.get $wv) (f64x2.promote_low_f32x4 (v128.load64_zero offset=8 align=4 (local.get $g))))))))
      (local.set $g (i32.add (local.get $g) (i32.const 16)))
      (br $loop4)))
    (local.set $end (i32.add (local.get $end) (i32.shl (i32.and (local.get $n) (i32.const 3)) (i32.const 2))))
    (block $done1 (loop $loop1
      (br_if $done1 (i32.ge_u (local.get $g) (local.get $end)))
      (f32.store (local.get $g)
        (f32.demote_f64 (f64.add (f64.const 0) (f64.mul (local.get $w) (f64.promote_f32 (f32.load (local.get $g)))))))
      (local.set $g (i32.add (local.get $g) (i32.const 4)))
      (br $loop1))))

  ;; One Adam step for n parameters:
  ;;   m = m·β1 + g·(1−β1);  v = v·β2 + g²·(1−β2)
  ;;   w = (m/bc1) / (√(v/bc2) + ε) · (−lr) + w
  (func (export "adam")
    (param $w i32) (param $m i32) (param $v i32) (param $g i32) (param $n i32)
    (param $b1 f32) (param $c1 f32) (param $b2 f32) (param $c2 f32)
    (param $bc1 f32) (param $bc2 f32) (param $eps f32) (param $nlr f32)
    (local $end i32)
    (local $gv v128) (local $mv v128) (local $vv v128)
    (local $b1v v128) (local $c1v v128) (local $b2v v128) (local $c2v v128)
    (local $bc1v v128) (local $bc2v v128) (local $epsv v128) (local $nlrv v128)
    (local $gs f32) (local $ms f32) (local $vs f32)
    (local.set $b1v (f32x4.splat (local.get $b1)))
    (local.set $c1v (f32x4.splat (local.get $c1)))
    (local.set $b2v (f32x4.splat (local.get $b2)))
    (local.set $c2v (f32x4.splat (local.get $c2)))
    (local.set $bc1v (f32x4.splat (local.get $bc1)))
    (local.set $bc2v (f32x4.splat (local.get $bc2)))
    (local.set $epsv (f32x4.splat (local.get $eps)))
    (local.set $nlrv (f32x4.splat (local.get $nlr)))
    (local.set $end (i32.add (local.get $w) (i32.shl (i32.and (local.get $n) (i32.const -4)) (i32.const 2))))
    (block $done4 (loop $loop4
      (br_if $done4 (i32.ge_u (local.get $w) (local.get $end)))
      (local.set $gv (v128.load align=4 (local.get $g)))
      (local.set $mv (f32x4.add (f32x4.mul (v128.load align=4 (local.get $m)) (local.get $b1v)) (f32x4.mul (local.get $gv) (local.get $c1v))))
      (local.set $vv (f32x4.add (f32x4.mul (v128.load align=4 (local.get $v)) (local.get $b2v))
                                (f32x4.mul (f32x4.mul (local.get $gv) (local.get $gv)) (local.get $c2v))))
      (v128.store align=4 (local.get $m) (local.get $mv))
      (v128.store align=4 (local.get $v) (local.get $vv))
      (v128.store align=4 (local.get $w)
        (f32x4.add
          (f32x4.mul
            (f32x4.div (f32x4.div (local.get $mv) (local.get $bc1v))
                       (f32x4.add (f32x4.sqrt (f32x4.div (local.get $vv) (local.get $bc2v))) (local.get $epsv)))
            (local.get $nlrv))
          (v128.load align=4 (local.get $w))))
      (local.set $w (i32.add (local.get $w) (i32.const 16)))
      (local.set $m (i32.add (local.get $m) (i32.const 16)))
      (local.set $v (i32.add (local.get $v) (i32.const 16)))
      (local.set $g (i32.add (local.get $g) (i32.const 16)))
      (br $loop4)))
    (local.set $end (i32.add (local.get $end) (i32.shl (i32.and (local.get $n) (i32.const 3)) (i32.const 2))))
    (block $done1 (loop $loop1
      (br_if $done1 (i32.ge_u (local.get $w) (local.get $end)))
      (local.set $gs (f32.load (local.get $g)))
      (local.set $ms (f32.add (f32.mul (f32.load (local.get $m)) (local.get $b1)) (f32.mul (local.get $gs) (local.get $c1))))
      (local.set $vs (f32.add (f32.mul (f32.load (local.get $v)) (local.get $b2)) (f32.mul (f32.mul (local.get $gs) (local.get $gs)) (local.get $c2))))
      (f32.store (local.get $m) (local.get $ms))
      (f32.store (local.get $v) (local.get $vs))
      (f32.store (local.get $w)
        (f32.add
          (f32.mul
            (f32.div (f32.div (local.get $ms) (local.get $bc1))
                     (f32.add (f32.sqrt (f32.div (local.get $vs) (local.get $bc2))) (local.get $eps)))
            (local.get $nlr))
          (f32.load (local.get $w))))
      (local.set $w (i32.add (local.get $w) (i32.const 4)))
      (local.set $m (i32.add (local.get $m) (i32.const 4)))
      (local.set $v (i32.add (local.get $v) (i32.const 4)))
      (local.set $g (i32.add (local.get $g) (i32.const 4)))
      (br $loop1)))))
