;; The elementwise passes and row sums of the projected cross-entropy (see kernels/cross-entropy.ts
;; for the products, the exp and the log around them). Logits z and their gradient are `rows` rows
;; of V floats. Each value goes through the same float32 operations, in the same order, as the tf
;; ops of ops/projected-cross-entropy.ts on the wasm backend: one rounding per multiply, add,
;; subtract or divide; row sums taken one value at a time from 0, as the backend's Sum and Mean
;; kernels take them (Mean then divides by V); the row maximum the first value, replaced by any
;; greater one, as its Max kernel finds it; the one-hot target a multiplier 1 at the target id and
;; 0 elsewhere (a row whose id is outside [0, V) has none), as its OneHot kernel makes it. So the
;; results are the same to the bit. Pointers are byte offsets into the wasm backend's memory; ids
;; are int32; the last V mod 4 values of a row go one at a time.
(module
  (import "env" "memory" (memory 0))

  ;; Per row: max[i] = max_j z[i, j]; zt[i] = Σ_j z[i, j]·onehot[i, j] (the target's logit);
  ;; where $smooth, mean[i] = (Σ_j z[i, j]) / V. The three sums share one pass over the row.
  (func (export "stats") (param $z i32) (param $ids i32) (param $rows i32) (param $v i32) (param $smooth i32)
    (param $max i32) (param $zt i32) (param $mean i32)
    (local $row i32) (local $j i32) (local $t i32) (local $x f32) (local $m f32) (local $st f32) (local $s f32) (local $p i32)
    (block $done (loop $rowLoop
      (br_if $done (i32.ge_u (local.get $row) (local.get $rows)))
      (local.set $t (i32.load (i32.add (local.get $ids) (i32.shl (local.get $row) (i32.const 2)))))
      (local.set $p (i32.add (local.get $z) (i32.shl (i32.mul (local.get $row) (local.get $v)) (i32.const 2))))
      (local.set $m (f32.load (local.get $p)))
      (local.set $st (f32.const 0))
      (local.set $s (f32.const 0))
      (local.set $j (i32.const 0))
      (block $rowDone (loop $cols
        (br_if $rowDone (i32.ge_u (local.get $j) (local.get $v)))
        (local.set $x (f32.load (local.get $p)))
        (if (f32.gt (local.get $x) (local.get $m)) (then (local.set $m (local.get $x))))
        (local.set $st (f32.add (local.get $st)
          (f32.mul (local.get $x) (select (f32.const 1) (f32.const 0) (i32.eq (local.get $j) (local.get $t))))))
        (local.set $s (f32.add (local.get $s) (local.get $x)))
        (local.set $p (i32.add (local.get $p) (i32.const 4)))
        (local.set $j (i32.add (local.get $j) (i32.const 1)))
        (br $cols)))
      (f32.store (i32.add (local.get $max) (i32.shl (local.get $row) (i32.const 2))) (local.get $m))
      (f32.store (i32.add (local.get $zt) (i32.shl (local.get $row) (i32.const 2))) (local.get $st))
      (if (local.get $smooth)
        (then (f32.store (i32.add (local.get $mean) (i32.shl (local.get $row) (i32.const 2)))
          (f32.div (local.get $s) (f32.convert_i32_u (local.get $v))))))
      (local.set $row (i32.add (local.get $row) (i32.const 1)))
      (br $rowLoop))))

  ;; a[i, j] = z[i, j] − by[i]: the logits less their row's maximum, or their row's log-sum-exp.
  (func (export "shift") (param $z i32) (param $by i32) (param $a i32) (param $rows i32) (param $v i32)
    (local $row i32) (local $end i32) (local $end4 i32) (local $c f32) (local $cv v128)
    (block $done (loop $rowLoop
      (br_if $done (i32.ge_u (local.get $row) (local.get $rows)))
      (local.set $c (f32.load (i32.add (local.get $by) (i32.shl (local.get $row) (i32.const 2)))))
      (local.set $cv (f32x4.splat (local.get $c)))
      (local.set $end (i32.add (local.get $z) (i32.shl (local.get $v) (i32.const 2))))
      (local.set $end4 (i32.add (local.get $z) (i32.shl (i32.and (local.get $v) (i32.const -4)) (i32.const 2))))
      (block $d4 (loop $l4
        (br_if $d4 (i32.ge_u (local.get $z) (local.get $end4)))
        (v128.store align=4 (local.get $a) (f32x4.sub (v128.load align=4 (local.get $z)) (local.get $cv)))
        (local.set $z (i32.add (local.get $z) (i32.const 16)))
        (local.set $a (i32.add (local.get $a) (i32.const 16)))
        (br $l4)))
      (block $d1 (loop $l1
        (br_if $d1 (i32.ge_u (local.get $z) (local.get $end)))
        (f32.store (local.get $a) (f32.sub (f32.load (local.get $z)) (local.get $c)))
        (local.set $z (i32.add (local.get $z) (i32.const 4)))
        (local.set $a (i32.add (local.get $a) (i32.const 4)))
        (br $l1)))
      (local.set $row (i32.add (local.get $row) (i32.const 1)))
      (br $rowLoop))))

  ;; out[i] = Σ_j x[i, j], in order from 0.
  (func (export "rowSums") (param $x i32) (param $rows i32) (param $v i32) (param $out i32)
    (local $row i32) (local $end i32) (local $s f32)
    (block $done (loop $rowLoop
      (br_if $done (i32.ge_u (local.get $row) (local.get $rows)))
      (local.set $end (i32.add (local.get $x) (i32.shl (local.get $v) (i32.const 2))))
      (local.set $s (f32.const 0))
      (block $d1 (loop $l1
        (br_if $d1 (i32.ge_u (local.get $x) (local.get $end)))
        (local.set $s (f32.add (local.get $s) (f32.load (local.get $x))))
        (local.set $x (i32.add (local.get $x) (i32.const 4)))
        (br $l1)))
      (f32.store (i32.add (local.get $out) (i32.shl (local.get $row) (i32.const 2))) (local.get $s))
      (local.set $row (i32.add (local.get $row) (i32.const 1)))
      (br $rowLoop))))

  ;; Per row: lse[i] = max[i] + logSum[i], the row's loss
  ;;   nll = (lse − zt·$keep) − mean·$spread  where $smooth, else lse − zt,
  ;; and returns Σ_i nll·w[i], in order from 0.
  (func (export "loss") (param $max i32) (param $logSum i32) (param $zt i32) (param $mean i32) (param $w i32) (param $lse i32)
    (param $rows i32) (param $smooth i32) (param $keep f32) (param $spread f32) (result f32)
    (local $i i32) (local $at i32) (local $l f32) (local $nll f32) (local $s f32)
    (block $done (loop $rowLoop
      (br_if $done (i32.ge_u (local.get $i) (local.get $rows)))
      (local.set $at (i32.shl (local.get $i) (i32.const 2)))
      (local.set $l (f32.add (f32.load (i32.add (local.get $max) (local.get $at))) (f32.load (i32.add (local.get $logSum) (local.get $at)))))
      (f32.store (i32.add (local.get $lse) (local.get $at)) (local.get $l))
      (if (local.get $smooth)
        (then (local.set $nll (f32.sub
          (f32.sub (local.get $l) (f32.mul (f32.load (i32.add (local.get $zt) (local.get $at))) (local.get $keep)))
          (f32.mul (f32.load (i32.add (local.get $mean) (local.get $at))) (local.get $spread)))))
        (else (local.set $nll (f32.sub (local.get $l) (f32.load (i32.add (local.get $zt) (local.get $at)))))))
      (local.set $s (f32.add (local.get $s) (f32.mul (local.get $nll) (f32.load (i32.add (local.get $w) (local.get $at))))))
      (local.set $i (i32.add (local.get $i) (i32.const 1)))
      (br $rowLoop)))
    (local.get $s))

  ;; In place, the softmax p → the gradient of the logits: g[i, j] = (p[i, j] − q[i, j])·(w[i]·scale),
  ;; the target q being $on at the row's id and $off elsewhere.
  (func (export "grad") (param $p i32) (param $ids i32) (param $w i32) (param $rows i32) (param $v i32)
    (param $scale f32) (param $on f32) (param $off f32)
    (local $row i32) (local $q i32) (local $end i32) (local $end4 i32) (local $t i32) (local $target i32) (local $pt f32) (local $ws f32) (local $wv v128) (local $offv v128)
    (local.set $offv (f32x4.splat (local.get $off)))
    (block $done (loop $rowLoop
      (br_if $done (i32.ge_u (local.get $row) (local.get $rows)))
      (local.set $ws (f32.mul (f32.load (i32.add (local.get $w) (i32.shl (local.get $row) (i32.const 2)))) (local.get $scale)))
      (local.set $wv (f32x4.splat (local.get $ws)))
      (local.set $t (i32.load (i32.add (local.get $ids) (i32.shl (local.get $row) (i32.const 2)))))
      ;; The target's p, read before the row is overwritten (unsigned: a negative id is out of range too).
      (local.set $target (i32.lt_u (local.get $t) (local.get $v)))
      (if (local.get $target) (then (local.set $pt (f32.load (i32.add (local.get $p) (i32.shl (local.get $t) (i32.const 2)))))))
      (local.set $q (local.get $p))
      (local.set $end (i32.add (local.get $p) (i32.shl (local.get $v) (i32.const 2))))
      (local.set $end4 (i32.add (local.get $p) (i32.shl (i32.and (local.get $v) (i32.const -4)) (i32.const 2))))
      (block $d4 (loop $l4
        (br_if $d4 (i32.ge_u (local.get $q) (local.get $end4)))
        (v128.store align=4 (local.get $q) (f32x4.mul (f32x4.sub (v128.load align=4 (local.get $q)) (local.get $offv)) (local.get $wv)))
        (local.set $q (i32.add (local.get $q) (i32.const 16)))
        (br $l4)))
      (block $d1 (loop $l1
        (br_if $d1 (i32.ge_u (local.get $q) (local.get $end)))
        (f32.store (local.get $q) (f32.mul (f32.sub (f32.load (local.get $q)) (local.get $off)) (local.get $ws)))
        (local.set $q (i32.add (local.get $q) (i32.const 4)))
        (br $l1)))
      (if (local.get $target)
        (then (f32.store (i32.add (local.get $p) (i32.shl (local.get $t) (i32.const 2)))
          (f32.mul (f32.sub (local.get $pt) (local.get $on)) (local.get $ws)))))
      (local.set $row (i32.add (local.get $row) (i32.const 1)))
      (local.set $p (local.get $end))
      (br $rowLoop))))

  ;; dst[i] = dst[i] + src[i] for `count` floats.
  (func (export "addInto") (param $dst i32) (param $src i32) (param $count i32)
    (local $end i32) (local $end4 i32)
    (local.set $end (i32.add (local.get $dst) (i32.shl (local.get $count) (i32.const 2))))
    (local.set $end4 (i32.add (local.get $dst) (i32.shl (i32.and (local.get $count) (i32.const -4)) (i32.const 2))))
    (block $d4 (loop $l4
      (br_if $d4 (i32.ge_u (local.get $dst) (local.get $end4)))
      (v128.store align=4 (local.get $dst) (f32x4.add (v128.load align=4 (local.get $dst)) (v128.load align=4 (local.get $src))))
      (local.set $dst (i32.add (local.get $dst) (i32.const 16)))
      (local.set $src (i32.add (local.get $src) (i32.const 16)))
      (br $l4)))
    (block $d1 (loop $l1
      (br_if $d1 (i32.ge_u (local.get $dst) (local.get $end)))
      (f32.store (local.get $dst) (f32.add (f32.load (local.get $dst)) (f32.load (local.get $src))))
      (local.set $dst (i32.add (local.get $dst) (i32.const 4)))
      (local.set $src (i32.add (local.get $src) (i32.const 4)))
      (br $l1)))))
