"""Provides the Vision Transformer (Dosovitskiy et al. 2021, "An Image is Worth 16x16 Words") for small images.

Read top to bottom like the paper: cut the image into patches, embed each patch linearly, prepend a
learned class token, add learned position embeddings, run pre-norm encoder blocks (multi-head
self-attention and a GELU MLP, each inside a residual), and classify from the class token. With
pool="sequence" there is no class token: the head reads a learned softmax weighting of the patch tokens
(sequence pooling, Hassani et al. 2021, "Escaping the Big Data Paradigm with Compact Transformers").

Training calls `forward`, which uses the fused kernel `F.scaled_dot_product_attention` and never
materialises the attention matrix. `forward_with_attention` is a separate, explicit pass that also
returns every layer's attention weights (and the pooling weights), for looking inside; it runs only when a
probe asks for it.
"""

from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from vitui.core.errors import ConfigError

# --------------------------------------------------------------------------- helpers


def grid_size(image_size: int, patch: int) -> int:
    """Patches per side; the image side must be a whole number of patches."""
    if image_size % patch:
        raise ValueError(f"image side {image_size} is not a multiple of the patch size {patch}; "
                         f"choose a patch that divides it (e.g. --set patch=4)")
    return image_size // patch


def drop_path(x: torch.Tensor, rate: float, training: bool) -> torch.Tensor:
    """Stochastic depth (Huang et al. 2016): drop a whole residual branch per sample, rescale the survivors."""
    if rate == 0.0 or not training:
        return x
    keep = 1.0 - rate
    mask = x.new_empty((x.shape[0],) + (1,) * (x.dim() - 1)).bernoulli_(keep)
    return x * mask / keep


# --------------------------------------------------------------------------- blocks


class FeedForward(nn.Module):
    """The MLP of each block: Linear -> GELU -> Linear, applied to every token on its own."""

    def __init__(self, *, dim: int, hidden: int, dropout: float = 0.0):
        super().__init__()
        self.net = nn.Sequential(nn.Linear(dim, hidden), nn.GELU(), nn.Dropout(dropout),
                                 nn.Linear(hidden, dim), nn.Dropout(dropout))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x)


class Attention(nn.Module):
    """Multi-head self-attention: softmax(q k^T / sqrt(d_head)) v, per head, heads concatenated and projected."""

    def __init__(self, *, dim: int, heads: int, dropout: float = 0.0):
        super().__init__()
        if dim % heads:
            raise ValueError(f"width {dim} does not split into {heads} heads; choose dim a multiple of heads "
                             f"(e.g. --set dim={heads * max(1, round(dim / heads))})")
        self.heads = heads
        self.scale = (dim // heads) ** -0.5
        self.dropout = dropout
        self.to_qkv = nn.Linear(dim, 3 * dim)
        self.proj = nn.Linear(dim, dim)
        self.proj_drop = nn.Dropout(dropout)

    def qkv(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        b, n, d = x.shape
        qkv = self.to_qkv(x).reshape(b, n, 3, self.heads, d // self.heads)
        q, k, v = qkv.permute(2, 0, 3, 1, 4)  # each (B, heads, N, d_head)
        return q, k, v

    def merge(self, out: torch.Tensor) -> torch.Tensor:
        b, h, n, dh = out.shape
        out = out.transpose(1, 2).reshape(b, n, h * dh)  # (B, N, dim): heads side by side
        return self.proj_drop(self.proj(out))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        q, k, v = self.qkv(x)
        out = F.scaled_dot_product_attention(q, k, v, dropout_p=self.dropout if self.training else 0.0)
        return self.merge(out)

    def forward_with_weights(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """The same computation written out, returning the weights (B, heads, N, N) as well (no attention dropout)."""
        q, k, v = self.qkv(x)
        weights = (q @ k.transpose(-2, -1) * self.scale).softmax(dim=-1)
        return self.merge(weights @ v), weights


class Block(nn.Module):
    """One pre-norm encoder block: x + MHSA(LN(x)), then x + MLP(LN(x)), each branch under stochastic depth."""

    def __init__(self, *, dim: int, heads: int, mlp_hidden: int, dropout: float, drop_path: float):
        super().__init__()
        self.norm1 = nn.LayerNorm(dim)
        self.attn = Attention(dim=dim, heads=heads, dropout=dropout)
        self.norm2 = nn.LayerNorm(dim)
        self.mlp = FeedForward(dim=dim, hidden=mlp_hidden, dropout=dropout)
        self.drop_path = drop_path

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x + drop_path(self.attn(self.norm1(x)), self.drop_path, self.training)
        return x + drop_path(self.mlp(self.norm2(x)), self.drop_path, self.training)

    def forward_with_weights(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        attended, weights = self.attn.forward_with_weights(self.norm1(x))
        x = x + drop_path(attended, self.drop_path, self.training)
        return x + drop_path(self.mlp(self.norm2(x)), self.drop_path, self.training), weights


# --------------------------------------------------------------------------- the model


class ViT(nn.Module):
    def __init__(self, *, image_size: int, patch: int, in_channels: int, num_classes: int, dim: int = 192,
                 depth: int = 6, heads: int = 3, mlp_ratio: float = 2.0, dropout: float = 0.0,
                 drop_path: float = 0.1, pool: str = "class"):
        super().__init__()
        self.grid = grid_size(image_size, patch)
        num_patches = self.grid * self.grid
        self.pool = pool
        # Cutting into p x p patches and applying one Linear to each flattened patch is exactly a
        # p x p convolution with stride p; the convolution does it in one fused call.
        self.to_patch_embedding = nn.Conv2d(in_channels, dim, kernel_size=patch, stride=patch)
        if pool == "class":
            self.cls_token = nn.Parameter(torch.zeros(1, 1, dim))
        else:  # one score per token; their softmax weights the tokens into what the head reads
            self.attention_pool = nn.Linear(dim, 1)
        self.pos_embedding = nn.Parameter(torch.zeros(1, num_patches + (pool == "class"), dim))
        self.dropout = nn.Dropout(dropout)
        # Stochastic depth grows linearly with depth (DeiT): early blocks are almost always kept.
        rates = [drop_path * i / max(1, depth - 1) for i in range(depth)]
        hidden = max(1, round(dim * mlp_ratio))
        self.blocks = nn.ModuleList(Block(dim=dim, heads=heads, mlp_hidden=hidden, dropout=dropout, drop_path=r)
                                    for r in rates)
        self.norm = nn.LayerNorm(dim)
        self.head = nn.Linear(dim, num_classes)
        self.apply(_init_weights)
        nn.init.trunc_normal_(self.pos_embedding, std=0.02)
        if pool == "class":
            nn.init.trunc_normal_(self.cls_token, std=0.02)

    def tokens(self, img: torch.Tensor) -> torch.Tensor:
        """(B, C, H, W) images -> (B, N, dim) tokens: the class token first (if any), then patches row by row."""
        x = self.to_patch_embedding(img)  # (B, dim, grid, grid)
        x = x.flatten(2).transpose(1, 2)  # (B, grid*grid, dim)
        if self.pool == "class":
            x = torch.cat([self.cls_token.expand(x.shape[0], -1, -1), x], dim=1)
        return self.dropout(x + self.pos_embedding)

    def pooled(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor | None]:
        """The encoder's output tokens -> (what the head reads (B, dim), the pooling weights (B, N) or None)."""
        x = self.norm(x)
        if self.pool == "class":
            return x[:, 0], None
        weights = self.attention_pool(x).squeeze(-1).softmax(dim=1)  # (B, N), each row sums to 1
        return torch.einsum("bn,bnd->bd", weights, x), weights

    def forward(self, img: torch.Tensor) -> torch.Tensor:
        x = self.tokens(img)
        for block in self.blocks:
            x = block(x)
        return self.head(self.pooled(x)[0])

    def forward_with_attention(self, img: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor | None]:
        """Logits, attention weights (depth, B, heads, N, N) and the pooling weights (B, N), None with a class token;
        N = grid*grid patches, plus 1 for a class token. For probes, not training."""
        x = self.tokens(img)
        weights = []
        for block in self.blocks:
            x, w = block.forward_with_weights(x)
            weights.append(w)
        features, pooling = self.pooled(x)
        return self.head(features), torch.stack(weights), pooling


def _init_weights(module: nn.Module) -> None:
    """Small truncated-normal weights and zero biases, as in the ViT and DeiT code."""
    if isinstance(module, (nn.Linear, nn.Conv2d)):
        nn.init.trunc_normal_(module.weight, std=0.02)
        if module.bias is not None:
            nn.init.zeros_(module.bias)
    elif isinstance(module, nn.LayerNorm):
        nn.init.ones_(module.weight)
        nn.init.zeros_(module.bias)


def build(args: Any, in_channels: int, num_classes: int, image_size: int) -> ViT:
    """The image-model constructor the trainer calls: settings from ViTArgs, shape from the data.

    A shape that does not fit (patch vs image side, width vs heads) is a settings problem: ConfigError,
    so the run ends with one line saying what to change instead of a traceback.
    """
    try:
        return ViT(image_size=image_size, patch=args.patch, in_channels=in_channels, num_classes=num_classes,
                   dim=args.dim, depth=args.depth, heads=args.heads, mlp_ratio=args.mlp_ratio,
                   dropout=args.dropout, drop_path=args.drop_path, pool=args.pool)
    except ValueError as exc:
        raise ConfigError(str(exc)) from None
