"""Data bigger than memory: train from LitData shards (`--dataset streaming --data-dir DIR|s3://…`).

`python -m {{cookiecutter.project_slug}}.prepare` writes the shards (train/, val/, test/, one LitData
`optimize` output each) and `dataset.json` beside them: the training split's normalization statistics,
label frequencies, tasks, class names, input shape, the source dataset and a fingerprint of each split's
index. LitData's StreamingDataset reads the shards from a folder or object storage, gives each DDP rank
(and node) its own chunks, and its StreamingDataLoader's state goes into the checkpoint, so `--resume`
continues mid-epoch. Batches reach the module as in memory (images float in [0, 1], a label column per
task); augmentation runs on each training batch on the device (on_after_batch_transfer).
"""

import hashlib
import json
import os
import sys
from pathlib import Path

import torch

from ..errors import DataError
from .augment import AugmentOptions
from .build import DataOptions
from .memory import InMemoryDataModule, is_local_rank_zero
from .tasks import DEFAULT_KIND, Task, same

META = "dataset.json"
SPLITS = ("train", "val", "test")
EXTRA = "pip install -e '.[streaming]'"
REMOTE_TIMEOUT = 10  # seconds: object storage that does not answer is one line, never a hang


def require_litdata(what: str) -> None:
    try:
        import litdata  # noqa: F401
    except ImportError:
        raise DataError(f"{what} needs LitData, an optional extra: {EXTRA}") from None


def is_remote(path: str) -> bool:
    return "://" in str(path) and not str(path).startswith("file://")


def join(root: str, *parts: str) -> str:
    return "/".join([str(root).rstrip("/"), *parts]) if is_remote(root) else str(Path(root, *parts))


def fingerprint(index_json: bytes) -> str:
    """A split's identity: the hash of the index.json that LitData wrote for its chunks."""
    return hashlib.sha256(index_json).hexdigest()[:16]


def _s3_read(url: str) -> bytes:
    """One object from s3:// with short timeouts and no retries (boto3 comes with litdata)."""
    import boto3
    import botocore.config
    import botocore.exceptions

    bucket, _, key = url[len("s3://") :].partition("/")
    config = botocore.config.Config(
        connect_timeout=REMOTE_TIMEOUT, read_timeout=REMOTE_TIMEOUT, retries={"max_attempts": 1, "mode": "standard"}
    )
    try:
        client = boto3.client("s3", config=config, endpoint_url=os.environ.get("AWS_ENDPOINT_URL") or None)
        return client.get_object(Bucket=bucket, Key=key)["Body"].read()
    except botocore.exceptions.NoCredentialsError:
        raise DataError(
            f"--data-dir {url}: no AWS credentials (set AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY or "
            "AWS_PROFILE, or run `aws configure`)"
        ) from None
    except botocore.exceptions.ClientError as e:
        code = e.response.get("Error", {}).get("Code", "error")
        raise DataError(f"--data-dir {url}: storage refused the read ({code})") from None
    except (botocore.exceptions.BotoCoreError, OSError) as e:
        raise DataError(f"--data-dir {url}: object storage unreachable ({type(e).__name__}); no network?") from None


def read_bytes(path: str) -> bytes | None:
    """A file beside the shards, local or remote; None when a local file is missing."""
    if not is_remote(path):
        p = Path(path)
        return p.read_bytes() if p.is_file() else None
    if path.startswith("s3://"):
        return _s3_read(path)
    raise DataError(
        f"--data-dir {path}: only local folders and s3:// URLs are checked before training; copy the "
        "shards locally or to S3"
    )


def read_meta(root: str) -> dict:
    """dataset.json, checked against the shards it describes (one line for each kind of mismatch)."""
    raw = read_bytes(join(root, META))
    if raw is None:
        if not is_remote(root) and not Path(root).exists():
            raise DataError(f"--dataset streaming: --data-dir {root} does not exist")
        prepare = f"python -m {__package__.partition('.')[0]}.prepare"
        raise DataError(f"--dataset streaming: {root} is not the output of `{prepare}` (no {META})")
    try:
        meta = json.loads(raw)
        for key in ("splits", "tasks", "mean", "std", "input_shape", "label_frequencies", "class_names", "source"):
            meta[key]  # noqa: B018 - presence check
    except (ValueError, KeyError, TypeError) as e:
        raise DataError(f"--dataset streaming: {join(root, META)} is damaged ({type(e).__name__}: {e})") from None
    shape, pack = meta["input_shape"], meta.get("pack")
    if not (isinstance(pack, int) and pack >= 1 and isinstance(shape, list) and shape):
        raise DataError(f"--dataset streaming: {join(root, META)} is damaged (pack {pack!r}, input_shape {shape!r})")
    if not all(isinstance(d, int) and d >= 1 for d in shape):
        raise DataError(f"--dataset streaming: {join(root, META)} is damaged (input_shape {shape!r})")
    for split in SPLITS:
        index = read_bytes(join(root, split, "index.json"))
        if index is None:
            raise DataError(f"--dataset streaming: {root} is not LitData output: {split}/index.json is missing")
        if fingerprint(index) != meta["splits"][split]["fingerprint"]:
            raise DataError(
                f"--dataset streaming: the shards in {join(root, split)} are not the ones {META} "
                f"describes ({split}/index.json damaged, or from another dataset than its statistics: "
                f"{meta['source'].get('dataset')}); run prepare again"
            )
        if not is_remote(root):
            check_shards(Path(root, split), json.loads(index), meta["splits"][split].get("chunks") or {})
    return meta


# Shards are hashed when training starts up to this many bytes in all (about a second of reading per GB);
# past it, their presence and sizes are still checked.
HASH_LIMIT = 2 * 1000**3


def chunk_hashes(folder: Path) -> dict[str, str]:
    """Each shard's hash (prepare records them in dataset.json)."""
    return {
        c["filename"]: _hash(folder / c["filename"]) for c in json.loads((folder / "index.json").read_text())["chunks"]
    }


def _hash(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        while block := f.read(1 << 20):
            digest.update(block)
    return digest.hexdigest()[:16]


def check_shards(folder: Path, index: dict, hashes: dict[str, str]) -> None:
    """Every shard that index.json lists is there, whole and (up to HASH_LIMIT) as prepare wrote it:
    one line naming the shard, never LitData's wait for a chunk that will not come."""
    chunks = index.get("chunks") if isinstance(index, dict) else None
    if not isinstance(chunks, list):
        raise DataError(f"--dataset streaming: {folder / 'index.json'} is damaged (no list of chunks)")
    total = 0
    for c in chunks:
        path = folder / str(c.get("filename"))
        if not path.is_file():
            raise DataError(f"--dataset streaming: shard {path} is missing; run prepare again")
        size = path.stat().st_size
        if size != c.get("chunk_bytes"):
            raise DataError(
                f"--dataset streaming: shard {path} holds {size} bytes, index.json says {c.get('chunk_bytes')} "
                "(truncated or replaced); run prepare again"
            )
        total += size
    if hashes and total <= HASH_LIMIT:
        for name, expected in hashes.items():
            if _hash(folder / name) != expected:
                raise DataError(
                    f"--dataset streaming: shard {folder / name} is not the one prepare wrote (its bytes "
                    "changed: a disk or copy error); run prepare again"
                )


def collate(packs: list[dict]) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Packs of examples → (inputs float [B, C, H, W], labels [B, T], example ids [B]); images arrive as
    uint8 and leave in [0, 1]."""
    x = torch.cat([p["x"] for p in packs])
    x = x.float().div_(255) if x.dtype == torch.uint8 else x.float()
    return x, torch.cat([p["y"].view(len(p["x"]), -1) for p in packs]), torch.cat([p["id"].view(-1) for p in packs])


_LOADER_CLASS = None


def resumable_loader_class():
    """LitData's StreamingDataLoader, plus one fix: after a resumed epoch it starts the next epoch afresh.

    LitData clears its `restore` flag only when an epoch's iterator runs to exhaustion; Lightning stops
    asking after the epoch's last batch, so without this the epoch after a resume would be empty."""
    global _LOADER_CLASS
    if _LOADER_CLASS is None:
        from litdata import StreamingDataLoader

        class ResumableStreamingDataLoader(StreamingDataLoader):
            _resuming = False

            def load_state_dict(self, obj):
                super().load_state_dict(obj)
                self._resuming = True

            def __iter__(self):
                if self.restore and not self._resuming:
                    self.restore = False  # left over from the resumed epoch that ended without exhaustion
                self._resuming = False
                return super().__iter__()

        _LOADER_CLASS = ResumableStreamingDataLoader
    return _LOADER_CLASS


class ShardSplit:
    """One split for code that wants random access (`len`, `batch(indices)`: the batch-size cliff test,
    the augmentation preview); training streams through StreamingDataLoader instead."""

    def __init__(self, root: str, count: int, columns: list[int], pack: int):
        self.root, self.count, self.columns, self.pack = root, count, columns, pack
        self._dataset = None

    def __len__(self) -> int:
        return self.count

    def batch(self, indices) -> tuple[torch.Tensor, torch.Tensor]:
        from litdata import StreamingDataset

        if self._dataset is None:
            self._dataset = StreamingDataset(self.root)
        rows = [collate([self._dataset[i // self.pack]]) for i in torch.as_tensor(indices).tolist()]
        offsets = [i % self.pack for i in torch.as_tensor(indices).tolist()]
        x = torch.stack([r[0][k] for r, k in zip(rows, offsets)])
        y = torch.stack([r[1][k] for r, k in zip(rows, offsets)])
        return x, y[:, self.columns]


class StreamingDataModule(InMemoryDataModule):
    """Same interface as the in-memory DataModule (tasks, mean, std, input_shape, label_frequencies,
    class_names, train_set), over LitData shards."""

    def __init__(self, spec, o: DataOptions, augment: AugmentOptions | None = None):
        super().__init__(spec, o, augment)
        self.root = o.data_dir  # a folder or a URL: not a Path
        self.task_names = list(o.tasks)

    def prepare_data(self) -> None:
        pass  # prepare wrote everything ahead

    def setup(self, stage: str | None = None) -> None:
        if self.train_set is not None:
            return
        require_litdata("--dataset streaming")
        meta = read_meta(self.root)
        stored = [t["name"] for t in meta["tasks"]]
        names = self.task_names or stored[:1]
        unknown = [n for n in names if n not in stored]
        if unknown:
            raise DataError(
                f"--tasks: the shards in {self.root} have no task {unknown[0]!r} (stored by prepare: "
                f"{', '.join(stored)})"
            )
        self.columns = [stored.index(n) for n in names]
        stored_tasks = [meta["tasks"][c] for c in self.columns]
        self.tasks = tuple(
            Task(n, t["num_classes"], same, "stored by prepare", kind=t.get("kind", DEFAULT_KIND))
            for n, t in zip(names, stored_tasks)
        )
        # A table's regression targets: the training statistics prepare computed (others: 0, 1).
        self.target_mean = [(meta.get("target_mean") or [0.0] * len(stored))[c] for c in self.columns]
        self.target_std = [(meta.get("target_std") or [1.0] * len(stored))[c] for c in self.columns]
        self.class_names = [meta["class_names"][c] for c in self.columns]
        self.frequencies = [meta["label_frequencies"][c] for c in self.columns]
        self.mean, self.std, self.meta = meta["mean"], meta["std"], meta
        self.train_set, self.val_set, self.test_set = (
            ShardSplit(join(self.root, s), meta["splits"][s]["count"], self.columns, meta["pack"]) for s in SPLITS
        )
        shape = tuple(self.train_set.batch([0])[0].shape[1:]) if len(self.train_set) else self.input_shape
        if shape != self.input_shape:  # the network is built on dataset.json's shape: the shards must hold it
            raise DataError(
                f"--dataset streaming: the shards in {self.root} hold inputs of shape {list(shape)}, {META} says "
                f"{list(self.input_shape)}; run prepare again"
            )
        # A LitData item is a pack of examples (prepare --pack): a batch is a whole number of packs.
        self.pack = meta["pack"]
        self.packs_per_batch = max(1, round(self.batch_size / self.pack))
        if self.packs_per_batch * self.pack != self.batch_size and is_local_rank_zero():
            print(
                f"warning: --batch-size {self.batch_size} is not a multiple of the shards' pack of {self.pack} "
                f"examples; batches hold {self.packs_per_batch * self.pack}",
                file=sys.stderr,
            )
        if meta.get("kind", "images") == "images" and self.augment_options is not None:
            self.augment = self.augment_options.create(self.input_shape[1:])

    @property
    def input_shape(self) -> tuple[int, int, int]:
        return tuple(self.meta["input_shape"])

    def label_frequencies(self) -> list[list[float]]:
        return self.frequencies

    def on_after_batch_transfer(self, batch, dataloader_idx: int):
        x, y, _ids = batch  # the ids are for tests and debugging (which example a rank saw)
        y = y[:, self.columns]
        if self.augment is not None and self.trainer is not None and self.trainer.training:
            x = self.augment(x)
        return x, y

    def _streaming_loader(self, split: str, shuffle: bool):
        """Built when Lightning asks (after DDP has started), so LitData sees every rank."""
        from litdata import StreamingDataset

        StreamingDataLoader = resumable_loader_class()

        # batch_decode off when shuffled: LitData's look-ahead decoding then decodes ~30× the items it returns.
        data = StreamingDataset(
            join(self.root, split), shuffle=shuffle, seed=self.seed, batch_decode=False if shuffle else "auto"
        )
        # Batch norm cannot train on a minibatch of one example: drop such a last batch only.
        count = self.meta["splits"][split]["count"]
        drop_last = shuffle and count - len(data) // self.packs_per_batch * self.packs_per_batch * self.pack == 1
        return StreamingDataLoader(
            data,
            batch_size=self.packs_per_batch,
            num_workers=self.num_workers,
            collate_fn=collate,
            drop_last=True if drop_last else None,
            persistent_workers=self.num_workers > 0,
            pin_memory=self.pin_memory,
        )

    def train_dataloader(self):
        self._train_loader = self._streaming_loader("train", shuffle=True)
        if self._loader_state is not None:
            self._train_loader.load_state_dict(self._loader_state)
            self._loader_state = None
        return self._train_loader

    # Mid-epoch resume: the training loader's position goes into the checkpoint with the DataModule's
    # state. Lightning's fit loop saves it too, but restores it only when the loader is built after the
    # checkpoint is read; ours is built earlier (configure_optimizers asks for the steps per epoch).
    _train_loader = None
    _loader_state = None

    def state_dict(self) -> dict:
        return {"train_loader": self._train_loader.state_dict()} if self._train_loader is not None else {}

    def load_state_dict(self, state: dict) -> None:
        if "train_loader" not in state:
            return
        if self._train_loader is not None:  # built already: not iterated yet, so it starts where it stopped
            self._train_loader.load_state_dict(state["train_loader"])
        else:
            self._loader_state = state["train_loader"]

    def val_dataloader(self):
        return self._streaming_loader("val", shuffle=False)

    def test_dataloader(self):
        return self._streaming_loader("test", shuffle=False)
