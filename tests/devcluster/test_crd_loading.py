"""Loading CRD files: every served version, and the parsed-YAML cache that keeps start-up fast."""

from __future__ import annotations

from devcluster.resources import default_crd_files, load_crds


def test_istios_crds_load_with_every_served_version_preferred_first(monkeypatch, tmp_path):
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    kinds = {r.kind: r for r in load_crds(default_crd_files())}
    assert kinds["PeerAuthentication"].versions == ("v1", "v1beta1")
    assert kinds["DestinationRule"].versions == ("v1", "v1beta1", "v1alpha3")
    assert kinds["DestinationRule"].storage_version == "v1"
    assert list((tmp_path / "devcluster").glob("*.json"))


def test_a_corrupt_cache_entry_is_ignored_and_rewritten(monkeypatch, tmp_path):
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    load_crds(default_crd_files())
    for entry in (tmp_path / "devcluster").glob("*.json"):
        entry.write_text("{not json")
    kinds = {r.kind for r in load_crds(default_crd_files())}
    assert kinds == {"PeerAuthentication", "DestinationRule"}
    assert all(e.read_text().startswith("[") for e in (tmp_path / "devcluster").glob("*.json"))


def test_an_unwritable_cache_does_not_stop_loading(monkeypatch, tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("")
    monkeypatch.setenv("XDG_CACHE_HOME", str(blocker))
    assert len(load_crds(default_crd_files())) == 2
