;; The elementwise passes of scaled dot-product attention with WebAssembly SIMD (see
;; kernels/attention.ts for the products and the softmax around them). Scores, weights and their
;; gradients are `rows` rows of Tk floats, rows running over (B, H, Tq). Each value goes through the
;; same float32 operations, in the same order, as the tf ops of attention/scaled-dot-product.ts and
;; their gradients (one rounding per multiply, add or subtract; the row sum of the softmax gradient
;; taken one value at a time from 0, as the backend's Sum kernel takes it), so the results are the
;; same to the bit. Pointers are byte offsets into the wasm backend's memory; the last Tk mod 4
;; values of a row go one at a time.
;;
;; The mask broadcasts to (B, H, Tq, Tk): its rows are Tk floats, and $mb, $mh, $mq are its byte
;; strides along B, H and Tq (0 along an axis it broadcasts over).
;;
;; The dropout multiplier is drawn where it is used, not stored: entry i of the (B, H, Tq, Tk) scores
;; is `scale` when draw i of mulberry32 seeded with `seed` is at most `limit` (unsigned), else 0 —
;; the integer operations of dropout.wat, so the values of the AtencaoDropoutMask kernel.
(module
  (import "env" "memory" (memory 0))

  ;; mulberry32's state step, and its output from a state (one draw; the loops draw four at a time
  ;; with the same operations on i32x4 lanes).
  (global $step i32 (i32.const 0x6d2b79f5))

  (func $draw (param $t i32) (result i32)
    (local.set $t (i32.mul (i32.xor (local.get $t) (i32.shr_u (local.get $t) (i32.const 15))) (i32.or (local.get $t) (i32.const 1))))
    (local.set $t (i32.xor (local.get $t)
      (i32.add (local.get $t) (i32.mul (i32.xor (local.get $t) (i32.shr_u (local.get $t) (i32.const 7))) (i32.or (local.get $t) (i32.const 61))))))
    (i32.xor (local.get $t) (i32.shr_u (local.get $t) (i32.const 14))))

  (func $drop1 (param $state i32) (param $limit i32) (param $scale f32) (result f32)
    (select (local.get $scale) (f32.const 0) (i32.le_u (call $draw (local.get $state)) (local.get $limit))))

  ;; The mask row of scores row `row` = (b·H + h)·Tq + i.
  (func $maskRow (param $row i32) (param $m i32) (param $nh i32) (param $nq i32) (param $mb i32) (param $mh i32) (param $mq i32) (result i32)
    (local $bh i32)
    (local.set $bh (i32.div_u (local.get $row) (local.get $nq)))
    (i32.add (local.get $m)
      (i32.add (i32.mul (i32.rem_u (local.get $row) (local.get $nq)) (local.get $mq))
        (i32.add (i32.mul (i32.rem_u (local.get $bh) (local.get $nh)) (local.get $mh))
          (i32.mul (i32.div_u (local.get $bh) (local.get $nh)) (local.get $mb))))))

  ;; Causal attention: row `row` = (b·H + h)·Tq + i of the scores sees keys 0 … i + off
  ;; (off = Tk − Tq): how many, clamped to 0 … Tk.
  (func $seen (param $row i32) (param $tk i32) (param $nq i32) (param $off i32) (result i32)
    (local $n i32)
    (local.set $n (i32.add (i32.add (i32.rem_u (local.get $row) (local.get $nq)) (local.get $off)) (i32.const 1)))
    (local.set $n (select (i32.const 0) (local.get $n) (i32.lt_s (local.get $n) (i32.const 0))))
    (select (local.get $tk) (local.get $n) (i32.gt_s (local.get $n) (local.get $tk))))

  ;; Zeros after the keys each of `rows` rows of Tk floats sees (the causal products leave those
  ;; entries unwritten, see kernels/attention.ts).
  (func (export "zeroTail") (param $p i32) (param $rows i32) (param $tk i32) (param $nq i32) (param $off i32)
    (local $row i32) (local $bytes i32)
    (local.set $bytes (i32.shl (local.get $tk) (i32.const 2)))
    (block $done (loop $rowLoop
      (br_if $done (i32.ge_u (local.get $row) (local.get $rows)))
      (call $zero (local.get $p) (i32.shl (call $seen (local.get $row) (local.get $tk) (local.get $nq) (local.get $off)) (i32.const 2)) (local.get $bytes))
      (local.set $p (i32.add (local.get $p) (local.get $bytes)))
      (local.set $row (i32.add (local.get $row) (i32.const 1)))
      (br $rowLoop))))

  ;; The entries of row `row` worth computing: all Tk, or with $causal the keys it sees ($seen),
  ;; rounded up to a multiple of 4 (at most Tk). The rest are 0 to start with and stay 0.
  (func $visible (param $row i32) (param $tk i32) (param $nq i32) (param $causal i32) (param $off i32) (result i32)
    (local $n i32)
    (if (i32.eqz (local.get $causal)) (then (return (local.get $tk))))
    (local.set $n (i32.and (i32.add (call $seen (local.get $row) (local.get $tk) (local.get $nq) (local.get $off)) (i32.const 3)) (i32.const -4)))
    (select (local.get $tk) (local.get $n) (i32.gt_s (local.get $n) (local.get $tk))))

  ;; Zeros at bytes $from … $to of $p.
  (func $zero (param $p i32) (param $from i32) (param $to i32)
    (block $d4 (loop $l4
      (br_if $d4 (i32.gt_u (i32.add (local.get $from) (i32.const 16)) (local.get $to)))
      (v128.store align=4 (i32.add (local.get $p) (local.get $from)) (v128.const i32x4 0 0 0 0))
      (local.set $from (i32.add (local.get $from) (i32.const 16)))
      (br $l4)))
    (block $d1 (loop $l1
      (br_if $d1 (i32.ge_u (local.get $from) (local.get $to)))
      (f32.store (i32.add (local.get $p) (local.get $from)) (f32.const 0))
      (local.set $from (i32.add (local.get $from) (i32.const 4)))
      (br $l1))))

  ;; In place: s = s·c, then, where $masked, s = s + (1 − m)·(−1e9).
  (func (export "scores") (param $s i32) (param $rows i32) (param $tk i32) (param $c f32)
    (param $masked i32) (param $m i32) (param $nh i32) (param $nq i32) (param $mb i32) (param $mh i32) (param $mq i32)
    (local $row i32) (local $p i32) (local $q i32) (local $end4 i32) (local $end i32) (local $bytes i32) (local $cv v128)
    (local.set $bytes (i32.shl (local.get $tk) (i32.const 2)))
    (local.set $cv (f32x4.splat (local.get $c)))
    (local.set $p (local.get $s))
    (block $done (loop $rowLoop
      (br_if $done (i32.ge_u (local.get $row) (local.get $rows)))
      (local.set $end (i32.add (local.get $p) (local.get $bytes)))
      (local.set $end4 (i32.add (local.get $p) (i32.shl (i32.and (local.get $tk) (i32.const -4)) (i32.const 2))))
      (if (local.get $masked)
        (then
          (local.set $q (call $maskRow (local.get $row) (local.get $m) (local.get $nh) (local.get $nq) (local.get $mb) (local.get $mh) (local.get $mq)))
          (block $d4 (loop $l4
            (br_if $d4 (i32.ge_u (local.get $p) (local.get $end4)))
            (v128.store align=4 (local.get $p)
              (f32x4.add (f32x4.mul (v128.load align=4 (local.get $p)) (local.get $cv))
                (f32x4.mul (f32x4.sub (f32x4.splat (f32.const 1)) (v128.load align=4 (local.get $q))) (f32x4.splat (f32.const -1e9)))))
            (local.set $p (i32.add (local.get $p) (i32.const 16)))
            (local.set $q (i32.add (local.get $q) (i32.const 16)))
            (br $l4)))
          (block $d1 (loop $l1
            (br_if $d1 (i32.ge_u (local.get $p) (local.get $end)))
            (f32.store (local.get $p)
              (f32.add (f32.mul (f32.load (local.get $p)) (local.get $c))
                (f32.mul (f32.sub (f32.const 1) (f32.load (local.get $q))) (f32.const -1e9))))
            (local.set $p (i32.add (local.get $p) (i32.const 4)))
            (local.set $q (i32.add (local.get $q) (i32.const 4)))
            (br $l1))))
        (else
          (block $e4 (loop $k4
            (br_if $e4 (i32.ge_u (local.get $p) (local.get $end4)))
            (v128.store align=4 (local.get $p) (f32x4.mul (v128.load align=4 (local.get $p)) (local.get $cv)))
            (local.set $p (i32.add (local.get $p) (i32.const 16)))
            (br $k4)))
          (block $e1 (loop $k1
            (br_if $e1 (i32.ge_u (local.get $p) (local.get $end)))
            (f32.store (local.get $p) (f32.mul (f32.load (local.get $p)) (local.get $c)))
            (local.set $p (i32.add (local.get $p) (i32.const 4)))
            (br $k1)))))
      (local.set $row (i32.add (local.get $row) (i32.const 1)))
      (br $rowLoop))))

;; The attended weights a = w·m where $masked, then ·drop where $dropped; with $causal (and a
  ;; mask), the keys hidden from a row are 0 without being read (see $visible).
  (func (export "weights") (param $a i32) (param $w i32) (param $rows i32) (param $tk i32)
    (param $dropped i32) (param $seed i32) (param $limit i32) (param $scale f32)
    (param $masked i32) (param $m i32) (param $nh i32) (param $nq i32) (param $mb i32) (param $mh i32) (param $mq i32)
    (param $causal i32) (param $off i32)
    (local $row i32) (local $j i32) (local $q i32) (local $bytes i32) (local $bytes4 i32) (local $end i32) (local $state i32) (local $x v128) (local $y f32)
    (local $t v128) (local $limitv v128) (local $scalev v128)
    (local.set $limitv (i32x4.splat (local.get $limit)))
    (local.set $scalev (f32x4.splat (local.get $scale)))
    (local.set $bytes (i32.shl (local.get $tk) (i32.const 2)))
    (block $done (loop $rowLoop
      (br_if $done (i32.ge_u (local.get $row) (local.get $rows)))
      (if (local.get $masked)
        (then (local.set $q (call $maskRow (local.get $row) (local.get $m) (local.get $nh) (local.get $nq) (local.get $mb) (local.get $mh) (local.get $mq)))))
      (local.set $end (call $visible (local.get $row) (local.get $tk) (local.get $nq) (local.get $causal) (local.get $off)))
      (local.set $bytes4 (i32.shl (i32.and (local.get $end) (i32.const -4)) (i32.const 2)))
      (local.set $end (i32.shl (local.get $end) (i32.const 2)))
      ;; the row's first draw: draws are numbered through the whole (B, H, Tq, Tk)
      (local.set $state (i32.add (i32.add (local.get $seed) (global.get $step)) (i32.mul (i32.mul (local.get $row) (local.get $tk)) (global.get $step))))
      (local.set $j (i32.const 0))
      (block $d4 (loop $l4
        (br_if $d4 (i32.ge_u (local.get $j) (local.get $bytes4)))
        (local.set $x (v128.load align=4 (i32.add (local.get $w) (local.get $j))))
        (if (local.get $masked) (then (local.set $x (f32x4.mul (local.get $x) (v128.load align=4 (i32.add (local.get $q) (local.get $j)))))))
        (if (local.get $dropped)
          (then
            ;; the multipliers of draws i … i + 3 (dropout.wat's integer operations)
            (local.set $t (i32x4.add (i32x4.splat (local.get $state)) (v128.const i32x4 0 0x6d2b79f5 0xda56f3ea 0x47826ddf)))
            (local.set $t (i32x4.mul (v128.xor (local.get $t) (i32x4.shr_u (local.get $t) (i32.const 15))) (v128.or (local.get $t) (i32x4.splat (i32.const 1)))))
            (local.set $t (v128.xor (local.get $t)
              (i32x4.add (local.get $t) (i32x4.mul (v128.xor (local.get $t) (i32x4.shr_u (local.get $t) (i32.const 7))) (v128.or (local.get $t) (i32x4.splat (i32.const 61)))))))
            (local.set $x (f32x4.mul (local.get $x)
              (v128.and (local.get $scalev) (i32x4.le_u (v128.xor (local.get $t) (i32x4.shr_u (local.get $t) (i32.const 14))) (local.get $limitv)))))))
        (v128.store align=4 (i32.add (local.get $a) (local.get $j)) (local.get $x))
        (local.set $state (i32.add (local.get $state) (i32.const 0xb4ade7d4)))
        (local.set $j (i32.add (local.get $j) (i32.const 16)))
        (br $l4)))
      (block $d1 (loop $l1
        (br_if $d1 (i32.ge_u (local.get $j) (local.get $end)))
        (local.set $y (f32.load (i32.add (local.get $w) (local.get $j))))
        (if (local.get $masked) (then (local.set $y (f32.mul (local.get $y) (f32.load (i32.add (local.get $q) (local.get $j)))))))
        (if (local.get $dropped) (then (local.set $y (f32.mul (local.get $y) (call $drop1 (local.get $state) (local.get $limit) (local.get $scale))))))
        (f32.store (i32.add (local.get $a) (local.get $j)) (local.get $y))
        (local.set $state (i32.add (local.get $state) (global.get $step)))
        (local.set $j (i32.add (local.get $j) (i32.const 4)))
        (br $l1)))
      (call $zero (local.get $a) (local.get $end) (local.get $bytes))
      (local.set $a (i32.add (local.get $a) (local.get $bytes)))
      (local.set $w (i32.add (local.get $w) (local.get $bytes)))
      (local.set $row (i32.add (local.get $row) (i32.const 1)))
      (br $rowLoop))))

  ;; The first $tk entries of a row of the gradient's first pass, in place: t = ((g·drop)·m)·w (each
  ;; product only where it applies: the gradients of the two products, then the softmax's dy·y);
  ;; where $writeA, also the attended weights a = (w·m)·drop. $q is the row's mask, $state its first
  ;; draw's.
  (func $gradRow (param $g i32) (param $w i32) (param $a i32) (param $tk i32) (param $state i32)
    (param $dropped i32) (param $limit i32) (param $scale f32) (param $writeA i32) (param $masked i32) (param $q i32)
    (local $j i32) (local $bytes i32) (local $bytes4 i32)
    (local $x v128) (local $y v128) (local $mv v128) (local $dv v128) (local $xs f32) (local $ys f32) (local $ms f32) (local $ds f32)
    (local $t v128) (local $limitv v128) (local $scalev v128)
    (local.set $limitv (i32x4.splat (local.get $limit)))
    (local.set $scalev (f32x4.splat (local.get $scale)))
    (local.set $bytes (i32.shl (local.get $tk) (i32.const 2)))
    (local.set $bytes4 (i32.shl (i32.and (local.get $tk) (i32.const -4)) (i32.const 2)))
    (block $d4 (loop $l4
      (br_if $d4 (i32.ge_u (local.get $j) (local.get $bytes4)))
      (local.set $x (v128.load align=4 (i32.add (local.get $g) (local.get $j))))
      (local.set $y (v128.load align=4 (i32.add (local.get $w) (local.get $j))))
      (if (local.get $dropped)
        (then
          (local.set $t (i32x4.add (i32x4.splat (local.get $state)) (v128.const i32x4 0 0x6d2b79f5 0xda56f3ea 0x47826ddf)))
          (local.set $t (i32x4.mul (v128.xor (local.get $t) (i32x4.shr_u (local.get $t) (i32.const 15))) (v128.or (local.get $t) (i32x4.splat (i32.const 1)))))
          (local.set $t (v128.xor (local.get $t)
            (i32x4.add (local.get $t) (i32x4.mul (v128.xor (local.get $t) (i32x4.shr_u (local.get $t) (i32.const 7))) (v128.or (local.get $t) (i32x4.splat (i32.const 61)))))))
          (local.set $dv (v128.and (local.get $scalev) (i32x4.le_u (v128.xor (local.get $t) (i32x4.shr_u (local.get $t) (i32.const 14))) (local.get $limitv))))
          (local.set $x (f32x4.mul (local.get $x) (local.get $dv)))))
      (if (local.get $masked)
        (then
          (local.set $mv (v128.load align=4 (i32.add (local.get $q) (local.get $j))))
          (local.set $x (f32x4.mul (local.get $x) (local.get $mv)))))
      (v128.store align=4 (i32.add (local.get $g) (local.get $j)) (f32x4.mul (local.get $x) (local.get $y)))
      (if (local.get $writeA)
        (then
          (if (local.get $masked) (then (local.set $y (f32x4.mul (local.get $y) (local.get $mv)))))
          (if (local.get $dropped) (then (local.set $y (f32x4.mul (local.get $y) (local.get $dv)))))
          (v128.store align=4 (i32.add (local.get $a) (local.get $j)) (local.get $y))))
      (local.set $state (i32.add (local.get $state) (i32.const 0xb4ade7d4)))
      (local.set $j (i32.add (local.get $j) (i32.const 16)))
      (br $l4)))
    (block $d1 (loop $l1
      (br_if $d1 (i32.ge_u (local.get $j) (local.get $bytes)))
      (local.set $xs (f32.load (i32.add (local.get $g) (local.get $j))))
      (local.set $ys (f32.load (i32.add (local.get $w) (local.get $j))))
      (if (local.get $dropped)
        (then
          (local.set $ds (call $drop1 (local.get $state) (local.get $limit) (local.get $scale)))
          (local.set $xs (f32.mul (local.get $xs) (local.get $ds)))))
      (if (local.get $masked)
        (then
          (local.set $ms (f32.load (i32.add (local.get $q) (local.get $j))))
          (local.set $xs (f32.mul (local.get $xs) (local.get $ms)))))
      (f32.store (i32.add (local.get $g) (local.get $j)) (f32.mul (local.get $xs) (local.get $ys)))
      (if (local.get $writeA)
        (then
          (if (local.get $masked) (then (local.set $ys (f32.mul (local.get $ys) (local.get $ms)))))
          (if (local.get $dropped) (then (local.set $ys (f32.mul (local.get $ys) (local.get $ds)))))
          (f32.store (i32.add (local.get $a) (local.get $j)) (local.get $ys))))
      (local.set $state (i32.add (local.get $state) (global.get $step)))
      (local.set $j (i32.add (local.get $j) (i32.const 4)))
      (br $l1))))

  ;; One row of the gradient's last pass, in place: g = (t − Σt·w)·c (the rest of the softmax's
  ;; gradient, then the scaling's).
  (func $finishRow (param $g i32) (param $w i32) (param $tk i32) (param $sum f32) (param $c f32)
    (local $j i32) (local $bytes i32) (local $bytes4 i32) (local $sv v128) (local $cv v128)
    (local.set $bytes (i32.shl (local.get $tk) (i32.const 2)))
    (local.set $bytes4 (i32.shl (i32.and (local.get $tk) (i32.const -4)) (i32.const 2)))
    (local.set $sv (f32x4.splat (local.get $sum)))
    (local.set $cv (f32x4.splat (local.get $c)))
    (block $d4 (loop $l4
      (br_if $d4 (i32.ge_u (local.get $j) (local.get $bytes4)))
      (v128.store align=4 (i32.add (local.get $g) (local.get $j))
        (f32x4.mul
          (f32x4.sub (v128.load align=4 (i32.add (local.get $g) (local.get $j))) (f32x4.mul (local.get $sv) (v128.load align=4 (i32.add (local.get $w) (local.get $j)))))
          (local.get $cv)))
      (local.set $j (i32.add (local.get $j) (i32.const 16)))
      (br $l4)))
    (block $d1 (loop $l1
      (br_if $d1 (i32.ge_u (local.get $j) (local.get $bytes)))
      (f32.store (i32.add (local.get $g) (local.get $j))
        (f32.mul
          (f32.sub (f32.load (i32.add (local.get $g) (local.get $j))) (f32.mul (local.get $sum) (f32.load (i32.add (local.get $w) (local.get $j)))))
          (local.get $c)))
      (local.set $j (i32.add (local.get $j) (i32.const 4)))
      (br $l1))))

  ;; From the gradient g of the attended weights to that of the scores Q·Kᵀ, in place, with w the
  ;; softmax output; where $writeA, also writes the attended weights a as "weights" does. Each row
  ;; sum Σt is a chain of dependent additions, so the rows go four at a time, summed side by side.
  ;; With $causal (and a mask), g is 0 at the keys hidden from a row (kernels/attention.ts): they
  ;; are neither read nor written (t and the gradient would be 0 there), and a is 0 there.
  (func (export "backward") (param $g i32) (param $w i32) (param $a i32) (param $rows i32) (param $tk i32) (param $c f32)
    (param $dropped i32) (param $seed i32) (param $limit i32) (param $scale f32) (param $writeA i32)
    (param $masked i32) (param $m i32) (param $nh i32) (param $nq i32) (param $mb i32) (param $mh i32) (param $mq i32)
    (param $causal i32) (param $off i32)
    (local $row i32) (local $n i32) (local $i i32) (local $j i32) (local $p i32) (local $bytes i32) (local $q i32) (local $len i32) (local $most i32)
    (local $s0 f32) (local $s1 f32) (local $s2 f32) (local $s3 f32)
    (local.set $bytes (i32.shl (local.get $tk) (i32.const 2)))
    (block $done (loop $rowLoop
      (br_if $done (i32.ge_u (local.get $row) (local.get $rows)))
      ;; four rows at a time, the last rows mod 4 one at a time
      (local.set $n (select (i32.const 4) (i32.const 1) (i32.le_u (i32.add (local.get $row) (i32.const 4)) (local.get $rows))))
      ;; t of the block's rows
      (local.set $i (i32.const 0))
      (local.set $most (i32.const 0))
      (block $d (loop $l
        (br_if $d (i32.ge_u (local.get $i) (local.get $n)))
        (if (local.get $masked)
          (then (local.set $q (call $maskRow (i32.add (local.get $row) (local.get $i)) (local.get $m) (local.get $nh) (local.get $nq) (local.get $mb) (local.get $mh) (local.get $mq)))))
        (local.set $len (call $visible (i32.add (local.get $row) (local.get $i)) (local.get $tk) (local.get $nq) (local.get $causal) (local.get $off)))
        (local.set $most (select (local.get $len) (local.get $most) (i32.gt_u (local.get $len) (local.get $most))))
        (local.set $j (i32.mul (local.get $i) (local.get $bytes)))
        ;; from the row's first draw (draws are numbered through the whole (B, H, Tq, Tk))
        (call $gradRow (i32.add (local.get $g) (local.get $j)) (i32.add (local.get $w) (local.get $j)) (i32.add (local.get $a) (local.get $j)) (local.get $len)
          (i32.add (i32.add (local.get $seed) (global.get $step)) (i32.mul (i32.mul (i32.add (local.get $row) (local.get $i)) (local.get $tk)) (global.get $step)))
          (local.get $dropped) (local.get $limit) (local.get $scale) (local.get $writeA) (local.get $masked) (local.get $q))
        (if (local.get $writeA) (then (call $zero (i32.add (local.get $a) (local.get $j)) (i32.shl (local.get $len) (i32.const 2)) (local.get $bytes))))
        (local.set $i (i32.add (local.get $i) (i32.const 1)))
        (br $l)))
      (local.set $most (i32.shl (local.get $most) (i32.const 2)))
      ;; their sums Σt, each in order from 0
      (local.set $s0 (f32.const 0))
      (local.set $s1 (f32.const 0))
      (local.set $s2 (f32.const 0))
      (local.set $s3 (f32.const 0))
      (local.set $j (i32.const 0))
      (if (i32.eq (local.get $n) (i32.const 4))
        (then
          (block $ds4 (loop $ls4
            (br_if $ds4 (i32.ge_u (local.get $j) (local.get $most)))
            (local.set $p (i32.add (local.get $g) (local.get $j)))
            (local.set $s0 (f32.add (local.get $s0) (f32.load (local.get $p))))
            (local.set $p (i32.add (local.get $p) (local.get $bytes)))
            (local.set $s1 (f32.add (local.get $s1) (f32.load (local.get $p))))
            (local.set $p (i32.add (local.get $p) (local.get $bytes)))
            (local.set $s2 (f32.add (local.get $s2) (f32.load (local.get $p))))
            (local.set $p (i32.add (local.get $p) (local.get $bytes)))
            (local.set $s3 (f32.add (local.get $s3) (f32.load (local.get $p))))
            (local.set $j (i32.add (local.get $j) (i32.const 4)))
            (br $ls4))))
        (else
          (block $ds1 (loop $ls1
            (br_if $ds1 (i32.ge_u (local.get $j) (local.get $most)))
            (local.set $s0 (f32.add (local.get $s0) (f32.load (i32.add (local.get $g) (local.get $j)))))
            (local.set $j (i32.add (local.get $j) (i32.const 4)))
            (br $ls1)))))
      ;; g = (t − Σt·w)·c
      (call $finishRow (local.get $g) (local.get $w) (call $visible (local.get $row) (local.get $tk) (local.get $nq) (local.get $causal) (local.get $off)) (local.get $s0) (local.get $c))
      (if (i32.eq (local.get $n) (i32.const 4))
        (then
          (local.set $j (local.get $bytes))
          (call $finishRow (i32.add (local.get $g) (local.get $j)) (i32.add (local.get $w) (local.get $j))
            (call $visible (i32.add (local.get $row) (i32.const 1)) (local.get $tk) (local.get $nq) (local.get $causal) (local.get $off)) (local.get $s1) (local.get $c))
          (local.set $j (i32.add (local.get $j) (local.get $bytes)))
          (call $finishRow (i32.add (local.get $g) (local.get $j)) (i32.add (local.get $w) (local.get $j))
            (call $visible (i32.add (local.get $row) (i32.const 2)) (local.get $tk) (local.get $nq) (local.get $causal) (local.get $off)) (local.get $s2) (local.get $c))
          (local.set $j (i32.add (local.get $j) (local.get $bytes)))
          (call $finishRow (i32.add (local.get $g) (local.get $j)) (i32.add (local.get $w) (local.get $j))
            (call $visible (i32.add (local.get $row) (i32.const 3)) (local.get $tk) (local.get $nq) (local.get $causal) (local.get $off)) (local.get $s3) (local.get $c))))
      (local.set $j (i32.mul (local.get $n) (local.get $bytes)))
      (local.set $g (i32.add (local.get $g) (local.get $j)))
      (local.set $w (i32.add (local.get $w) (local.get $j)))
      (local.set $a (i32.add (local.get $a) (local.get $j)))
      (local.set $row (i32.add (local.get $row) (local.get $n)))
      (br $rowLoop)))))
