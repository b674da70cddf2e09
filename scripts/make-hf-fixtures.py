#!/usr/bin/env python3
"""Build the tiny Hugging Face checkpoints that test atencao's import and export.

Writes test/fixtures/hf/gpt2 and test/fixtures/hf/bert: config.json, model.safetensors and
tokenizer.json as `transformers` saves them, plus expected.json, the token ids, logits and
attention weights `transformers` computes for a few fixed inputs. The weights are random (a
fixed seed) and tiny, so the files stay small; what matters is that the numbers come from the
reference implementation.

Run once, from the repository root, in a Python environment with torch, transformers and
tokenizers (no network is needed: the tokenizers are trained here on a few sentences):

    python scripts/make-hf-fixtures.py

The versions used are written into each expected.json ("versions").

    python scripts/make-hf-fixtures.py --gpt2-124m /tmp/gpt2-124m

instead writes a random checkpoint of GPT-2's real shape (124M weights, 50,257 tokens, about
500 MB) for measuring import and export times; keep it out of the repository.
"""
import json
import os
import shutil
import sys

import tokenizers
import torch
import transformers
from tokenizers import Tokenizer, decoders, models, normalizers, pre_tokenizers, processors, trainers
from transformers import BertConfig, BertForMaskedLM, GPT2Config, GPT2LMHeadModel, PreTrainedTokenizerFast

OUT = os.path.join("test", "fixtures", "hf")

TEXTS = [
    "the cat sat on the mat.",
    "a dog ran to the park and the cat ran after it.",
    "o gato dorme no tapete.",
    "attention lets every token look at every other token.",
    "the quick brown fox jumps over the lazy dog.",
    "small models are easy to read.",
]


def versions():
    return {
        "python": sys.version.split()[0],
        "torch": torch.__version__,
        "transformers": transformers.__version__,
        "tokenizers": tokenizers.__version__,
    }


def rounded(t):
    """A tensor as nested lists of floats with 7 significant digits (float32 holds about 7)."""
    return json.loads(json.dumps(t.tolist(), default=float), parse_float=lambda s: float(f"{float(s):.7g}"))


def keep_only(folder, names):
    for name in os.listdir(folder):
        if name not in names:
            path = os.path.join(folder, name)
            shutil.rmtree(path) if os.path.isdir(path) else os.remove(path)


def gpt2_tokenizer():
    """A byte-level BPE like GPT-2's, with <|endoftext|> as its only special token (the last id, as in GPT-2)."""
    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(vocab_size=299, initial_alphabet=pre_tokenizers.ByteLevel.alphabet(), show_progress=False)
    tok.train_from_iterator(TEXTS, trainer)
    tok.add_special_tokens(["<|endoftext|>"])
    return tok


def bert_tokenizer():
    """A WordPiece like BERT's (lower case, [CLS] … [SEP] around every input)."""
    tok = Tokenizer(models.WordPiece(unk_token="[UNK]"))
    tok.normalizer = normalizers.BertNormalizer(lowercase=True)
    tok.pre_tokenizer = pre_tokenizers.BertPreTokenizer()
    tok.decoder = decoders.WordPiece()
    specials = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]
    trainer = trainers.WordPieceTrainer(vocab_size=160, special_tokens=specials, show_progress=False)
    tok.train_from_iterator(TEXTS, trainer)
    cls, sep = tok.token_to_id("[CLS]"), tok.token_to_id("[SEP]")
    tok.post_processor = processors.TemplateProcessing(single="[CLS] $A [SEP]", pair="[CLS] $A [SEP] $B:1 [SEP]:1", special_tokens=[("[CLS]", cls), ("[SEP]", sep)])
    return tok


def expected(model, tok, texts, special_tokens):
    cases = []
    for text in texts:
        ids = tok.encode(text, add_special_tokens=special_tokens).ids
        with torch.no_grad():
            out = model(torch.tensor([ids]), output_attentions=True)
        cases.append({
            "text": text,
            "ids": ids,
            "tokens": [tok.id_to_token(i) for i in ids],
            "logits": rounded(out.logits[0]),  # (T, V)
            "attentions": [rounded(a[0]) for a in out.attentions],  # per layer (H, T, T)
        })
    return cases


def save(model, tok, folder, texts, special_tokens, extra):
    os.makedirs(folder, exist_ok=True)
    model.save_pretrained(folder, safe_serialization=True)
    PreTrainedTokenizerFast(tokenizer_object=tok).save_pretrained(folder)
    tok.save(os.path.join(folder, "tokenizer.json"))
    keep_only(folder, {"config.json", "model.safetensors", "tokenizer.json"})
    record = {"versions": versions(), **extra, "cases": expected(model, tok, texts, special_tokens)}
    with open(os.path.join(folder, "expected.json"), "w") as f:
        json.dump(record, f, separators=(",", ":"))
        f.write("\n")


def gpt2_124m(folder):
    """GPT-2 small's shape with random weights, and a tokenizer of its size (byte-level BPE whose extra tokens are made up)."""
    torch.manual_seed(124)
    base = gpt2_tokenizer()
    vocab = dict(base.get_vocab())
    end = vocab.pop("<|endoftext|>")
    merges = json.loads(base.to_str())["model"]["merges"]
    n = 0
    while len(vocab) < 50256:
        token = f"\u0120tok{n}"
        n += 1
        if token not in vocab:
            vocab[token] = len(vocab)
    tok = Tokenizer(models.BPE(vocab=vocab, merges=[tuple(m) if isinstance(m, list) else tuple(m.split(" ")) for m in merges]))
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    tok.add_special_tokens(["<|endoftext|>"])
    assert tok.get_vocab_size() == 50257, tok.get_vocab_size()
    config = GPT2Config(bos_token_id=50256, eos_token_id=50256, attn_implementation="eager")
    model = GPT2LMHeadModel(config).eval()
    os.makedirs(folder, exist_ok=True)
    model.save_pretrained(folder, safe_serialization=True)
    tok.save(os.path.join(folder, "tokenizer.json"))
    keep_only(folder, {"config.json", "model.safetensors", "tokenizer.json"})
    ids = tok.encode("the cat sat on the mat.").ids
    with torch.no_grad():
        logits = model(torch.tensor([ids])).logits[0]
    with open(os.path.join(folder, "expected.json"), "w") as f:
        json.dump({"versions": versions(), "ids": ids, "last_logits": rounded(logits[-1]), "parameters": sum(p.numel() for p in model.parameters())}, f)
    print(json.dumps({"parameters": sum(p.numel() for p in model.parameters()), **versions()}))


def main():
    if len(sys.argv) == 3 and sys.argv[1] == "--gpt2-124m":
        return gpt2_124m(sys.argv[2])
    torch.manual_seed(20)
    tok = gpt2_tokenizer()
    config = GPT2Config(vocab_size=tok.get_vocab_size(), n_positions=32, n_embd=16, n_layer=2, n_head=2, n_inner=48,
                        bos_token_id=tok.token_to_id("<|endoftext|>"), eos_token_id=tok.token_to_id("<|endoftext|>"),
                        attn_implementation="eager")
    model = GPT2LMHeadModel(config).eval()
    # Spread the weights wider than the default init (0.02) so that a wrong mapping shows in the logits.
    with torch.no_grad():
        for p in model.parameters():
            p.add_(torch.randn_like(p) * 0.3)
    save(model, tok, os.path.join(OUT, "gpt2"), ["the cat sat on the mat.", "attention lets every token look"], False,
         {"note": "GPT2LMHeadModel, byte-level BPE; inputs without special tokens"})

    torch.manual_seed(21)
    tok = bert_tokenizer()
    config = BertConfig(vocab_size=tok.get_vocab_size(), hidden_size=16, num_hidden_layers=2, num_attention_heads=2,
                        intermediate_size=48, max_position_embeddings=32, type_vocab_size=2, pad_token_id=tok.token_to_id("[PAD]"),
                        attn_implementation="eager")
    model = BertForMaskedLM(config).eval()
    with torch.no_grad():
        for p in model.parameters():
            p.add_(torch.randn_like(p) * 0.3)
    save(model, tok, os.path.join(OUT, "bert"), ["the cat sat on the [MASK].", "a dog ran to the park"], True,
         {"note": "BertForMaskedLM, WordPiece; inputs with [CLS] … [SEP]"})
    print(json.dumps(versions()))


if __name__ == "__main__":
    main()
